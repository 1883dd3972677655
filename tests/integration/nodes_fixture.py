"""Node registry helpers: an AdminEnv whose cic-control probes nodes fast, accepts loopback node
endpoints (cic-node-sim listens on 127.0.0.1), declares agents dead after 1.5 s without a
heartbeat, and has extra catalog models so every test can own a model nobody else serves.

Config-file nodes may sit in either configured region (india, apac) via `node_regions`.
"""
import re
import signal

import harness
from admin_fixture import AdminEnv, Replica
from gateway_fixture import ORPHAN

# Extra catalog models: one per test, so traffic for it can only reach the nodes that test added.
NODE_MODELS = [f"nodes-test-{c}" for c in "abcdefghijkl"]

HEALTH_YAML = "health: {interval_ms: 300, timeout_ms: 500, readiness_interval_ms: 60000}"


def registry_yaml(allow_loopback=True, heartbeat_timeout_ms=1500):
    return ("registry: {allow_loopback_endpoints: %s, heartbeat_timeout_ms: %d}"
            % ("true" if allow_loopback else "false", heartbeat_timeout_ms))


class NodesEnv(AdminEnv):
    def __init__(self, allow_loopback=True, heartbeat_timeout_ms=1500):
        super().__init__()
        self.allow_loopback = allow_loopback
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self.node_regions = {}  # config node id -> region (default india)

    def start_sim(self, name, model, *flags):
        """A cic-node-sim that is NOT in the config file (to be added over the API); its base URL."""
        proc = self.procs.start("cic-node-sim", ["--listen", "127.0.0.1:0", "--model", f"{model}:chat", *flags],
                                name=name)
        return proc, f"http://127.0.0.1:{proc.ready['port']}"

    def config_text(self, bootstrap=True, extra=""):
        text = super().config_text(bootstrap=bootstrap, extra="\n".join(
            [HEALTH_YAML, registry_yaml(self.allow_loopback, self.heartbeat_timeout_ms), extra]))
        models = "".join(f"\n  - {{id: {m}, family: llama, kind: chat, context_length: 8192}}" for m in NODE_MODELS)
        anchor = f"  - {{id: {ORPHAN}, family: llama, kind: chat, context_length: 8192}}"
        assert anchor in text, "MODELS_YAML changed; update nodes_fixture"
        text = text.replace(anchor, anchor + models, 1)
        for nid, region in self.node_regions.items():
            text = text.replace(f"{{id: {nid}, region: india,", f"{{id: {nid}, region: {region},", 1)
        return text

    def restart(self, index=0, name="cic-control"):
        """SIGTERM the replica, wait for it to exit, start it again with the same config file."""
        replica = self.replicas[index]
        replica.proc.signal(signal.SIGTERM)
        rc = replica.proc.wait(timeout=20)
        path = self.procs.path(f"{name}.yaml")
        proc = self.procs.start("cic-control", ["--config", path], name=name)
        new = Replica(self, proc)
        self.replicas[index] = new
        if index == 0:
            self.gateway = proc
        return new, rc

    def token_leaks(self, token):
        """Where a secret shows up: log files and the SQLite database."""
        places = [name for name, text in self.log_texts().items() if token in text]
        if token.encode() in self.sqlite_raw_bytes() or token in self.sqlite_dump():
            places.append("cic.db")
        return places


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    samples = []
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            continue
        labels = dict(label_re.findall(m.group(3) or ""))
        try:
            value = float(m.group(4))
        except ValueError:
            continue
        samples.append((m.group(1), labels, value))
    return samples


def metric_values(samples, name, **labels):
    return [v for n, l, v in samples if n == name and all(l.get(k) == val for k, val in labels.items())]


def metrics(env):
    r = harness.request(env.main.admin_port, "GET", "/metrics")
    assert r.status == 200, (r.status, r.body[:200])
    return parse_metrics(r.body.decode())

