"""Starts cic-node-sim nodes and a cic-control configured for them, for gateway integration tests.

`GatewayEnv` writes a config file in a temp dir (SQLite store, bootstrap key) naming the nodes it
started, starts `cic-control --config ... --ready-file ...` on port 0, and knows the API key.
"""
import http.client
import json
import os
import socket
import sqlite3
import time

import harness

CHAT = "llama-3.1-8b-instruct"
CHAT2 = "mistral-7b-instruct"
EMBED = "bge-small-en-v1.5"
ORPHAN = "orphan-model"  # in the catalog, served by no node

MODELS_YAML = f"""
models:
  - {{id: {CHAT}, family: llama, kind: chat, context_length: 8192}}
  - {{id: {CHAT2}, family: mistral, kind: chat, context_length: 8192}}
  - {{id: {EMBED}, family: bge, kind: embedding, context_length: 512}}
  - {{id: {ORPHAN}, family: llama, kind: chat, context_length: 8192}}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def nodes_yaml(nodes):
    """The `nodes:` entries for GatewayEnv.nodes, all in india (a fixture may move some)."""
    return "\n".join(f"  - {{id: {nid}, region: india, endpoint: \"http://127.0.0.1:{port}\", models: [{model}]}}"
                     for nid, model, port, _ in nodes)


def store_yaml(var, backend="sqlite", dsn=None, pool_size=4):
    """The `store:` section: SQLite in `var`, or PostgreSQL at `dsn`."""
    if backend == "postgres":
        return f"store:\n  backend: postgres\n  postgres: {{dsn: \"{dsn}\", pool_size: {pool_size}}}"
    return f"store:\n  backend: sqlite\n  sqlite: {{path: \"{var}/cic.db\"}}"


def bootstrap_yaml(var, plan="unlimited", enabled=True):
    """The `bootstrap:` section: org acme, environment dev in india, its key written to var/api-key."""
    lines = ["bootstrap:", f"  enabled: {'true' if enabled else 'false'}"]
    if plan:
        lines.append(f"  plan: {plan}")
    lines += ["  org: acme", "  environment: dev", "  region: india", f"  api_key_file: \"{var}/api-key\""]
    return "\n".join(lines)


class GatewayEnv:
    def __init__(self):
        self.procs = harness.Processes()
        self.var = self.procs.path("var")
        os.makedirs(self.var, exist_ok=True)
        self.nodes = []  # (node id, model, port, Proc)
        self.gateway = None
        self.config_path = None
        self.api_key = None

    # -- nodes -------------------------------------------------------------------------------
    def start_node(self, node_id, model, kind="chat", *flags):
        proc = self.procs.start("cic-node-sim", ["--listen", "127.0.0.1:0", "--model", f"{model}:{kind}", *flags],
                                name=node_id)
        self.nodes.append((node_id, model, proc.ready["port"], proc))
        return proc

    def add_dead_node(self, node_id, model):
        """A node in the config whose port nobody listens on."""
        self.nodes.append((node_id, model, free_port(), None))

    def node_port(self, node_id):
        return next(port for nid, _, port, _ in self.nodes if nid == node_id)

    def node_proc(self, node_id):
        return next(proc for nid, _, _, proc in self.nodes if nid == node_id)

    # -- gateway -----------------------------------------------------------------------------
    def write_config(self, server_extra="", upstream_extra="", tls=None, extra=""):
        tls_yaml = ""
        if tls:
            tls_yaml = f"  tls: {{cert_file: \"{tls[0]}\", key_file: \"{tls[1]}\"}}\n"
        text = f"""
server:
  listen: "127.0.0.1:0"
  threads: 2
  shutdown_grace_ms: 10000
{tls_yaml}{server_extra}
admin:
  listen: "127.0.0.1:0"
{store_yaml(self.var)}
auth:
  key_hash_secret: "integration-test-secret-0123456789abcdef"
upstream:
  connect_timeout_ms: 1000
{upstream_extra}
regions:
  - {{name: india, fallback: [apac]}}
  - {{name: apac, fallback: [india]}}
{MODELS_YAML}
nodes:
{nodes_yaml(self.nodes)}
plans:
  # No limits for the bootstrap org: these tests are about the data path, not about limits.
  - {{name: unlimited}}
{bootstrap_yaml(self.var)}
logging: {{level: info, format: json}}
{extra}
"""
        self.config_path = self.procs.path("cic.yaml")
        with open(self.config_path, "w") as f:
            f.write(text)
        return self.config_path

    def start_gateway(self, **config):
        if config or not self.config_path:
            self.write_config(**config)
        self.gateway = self.procs.start("cic-control", ["--config", self.config_path], name="cic-control")
        with open(os.path.join(self.var, "api-key")) as f:
            self.api_key = f.read().strip()
        return self.gateway

    @property
    def port(self):
        return self.gateway.ready["http_port"]

    @property
    def admin_port(self):
        return self.gateway.ready["admin_port"]

    def auth(self, extra=None):
        headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        headers.update(extra or {})
        return headers

    def post(self, path, body, headers=None, timeout=30):
        return harness.request(self.port, "POST", path, body=body, headers=self.auth(headers), timeout=timeout)

    def get(self, path, headers=None):
        return harness.request(self.port, "GET", path, headers=self.auth(headers))

    def db(self):
        return sqlite3.connect(os.path.join(self.var, "cic.db"), timeout=10)

    def usage_rows(self, request_id):
        with self.db() as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM usage_records WHERE request_id = ?", (request_id,))]

    def wait_usage(self, request_id, timeout=10):
        return harness.wait_for(lambda: self.usage_rows(request_id), timeout=timeout,
                                what=f"usage record {request_id}")

    def sim_request(self, node_id, request_id):
        r = harness.request(self.node_port(node_id), "GET", f"/sim/requests/{request_id}")
        return r.json() if r.status == 200 else None

    def stop(self):
        self.procs.stop_all()


def chat(model=CHAT, content="Hello there", **extra):
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    body.update(extra)
    return body


class StreamReader:
    """Reads an SSE response incrementally over a raw http.client connection."""

    def __init__(self, port, path, body, headers, timeout=30):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("POST", path, body=json.dumps(body), headers=headers)
        self.resp = self.conn.getresponse()
        self.buffer = b""

    @property
    def status(self):
        return self.resp.status

    def header(self, name):
        return self.resp.getheader(name)

    def next_event(self):
        """The next `data:` payload (str) with its arrival time, or None at the end of the stream."""
        while b"\n\n" not in self.buffer:
            chunk = self.resp.read1(65536)
            if not chunk:
                return None
            self.buffer += chunk
        event, self.buffer = self.buffer.split(b"\n\n", 1)
        for line in event.decode().split("\n"):
            if line.startswith("data:"):
                return time.monotonic(), line[5:].strip()
        return self.next_event()

    def all_events(self):
        events = []
        while (e := self.next_event()) is not None:
            events.append(e)
        return events

    def close(self):
        # Hard close so the gateway sees the disconnect at once.
        sock = self.conn.sock
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.resp.close()  # the response's file object holds the socket open too
        self.conn.close()
