"""Usage-billing durability helpers: a cic-control that is killed and restarted on the same ports
and the same var/ directory (so the same usage write-ahead log), cic-loadgen runs that write the
ids of the requests they saw complete, a private PostgreSQL that a test may stop and start, and
readers of the usage records and rollups in SQLite or PostgreSQL.

Standard library only; everything started here is stopped by `BillingEnv.stop()`.
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

import harness
from admin_fixture import _pg_tool
from gateway_fixture import CHAT, MODELS_YAML, GatewayEnv, bootstrap_yaml, chat, free_port, nodes_yaml, store_yaml

# SELECTs that every check uses, the same on both backends.
TOTALS_SQL = ("SELECT COUNT(*), COUNT(DISTINCT request_id), COALESCE(SUM(prompt_tokens), 0),"
              " COALESCE(SUM(completion_tokens), 0) FROM usage_records")
HOURLY_SQL = ("SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(prompt_tokens), 0),"
              " COALESCE(SUM(completion_tokens), 0) FROM usage_hourly")


class PrivatePostgres:
    """A PostgreSQL cluster of this test alone (initdb in a temp dir, a free loopback port), so a
    test may stop it without disturbing the shared server of tests/services.sh. Like services.sh,
    it runs as the `postgres` user when the test runs as root (PostgreSQL refuses root)."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pg")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.port = free_port()
        os.makedirs(self.sock, exist_ok=True)
        if os.getuid() == 0:
            os.chmod(workdir, 0o755)
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-U", "cic", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "cic", "cic_billing")
        self.dsn = f"postgresql://cic@127.0.0.1:{self.port}/cic_billing"

    def _run(self, tool, *args, timeout=60):
        cmd = [_pg_tool(tool), *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{tool} failed: {out.stdout}\n{out.stderr}")
        return out.stdout

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "30", "start",
                  "-o", f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                        f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")

    def stop(self):
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def destroy(self):
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", timeout=30)
        except Exception:  # already stopped
            pass

    def query(self, sql):
        out = subprocess.run([_pg_tool("psql"), self.dsn, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\t", "-c", sql],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"psql {sql!r} failed: {out.stderr}")
        return [line.split("\t") for line in out.stdout.splitlines() if line]


class BillingEnv(GatewayEnv):
    """One cic-control on fixed ports with a var/ directory that outlives it, and its nodes."""

    def __init__(self, backend="sqlite", dsn=None, billing_yaml=""):
        super().__init__()
        self.backend = backend
        self.dsn = dsn
        self.billing_yaml = billing_yaml
        self.http_port = free_port()
        self.admin_port_fixed = free_port()
        self.starts = 0

    def config_text(self):
        return f"""
server:
  listen: "127.0.0.1:{self.http_port}"
  threads: 2
  shutdown_grace_ms: 5000
admin:
  listen: "127.0.0.1:{self.admin_port_fixed}"
{store_yaml(self.var, self.backend, self.dsn)}
auth:
  key_hash_secret: "integration-test-secret-0123456789abcdef"
upstream:
  connect_timeout_ms: 1000
regions:
  - {{name: india}}
{MODELS_YAML}
nodes:
{nodes_yaml(self.nodes)}
plans:
  - {{name: unlimited}}
{bootstrap_yaml(self.var)}
billing:
  wal_dir: "{self.var}/usage-wal"
{self.billing_yaml}
logging: {{level: info, format: json}}
"""

    def start_gateway(self, **_):
        self.config_path = self.procs.path("cic.yaml")
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        self.gateway = self.procs.start("cic-control", ["--config", self.config_path], name="cic-control", timeout=30)
        self.starts += 1
        with open(os.path.join(self.var, "api-key")) as f:
            self.api_key = f.read().strip()
        return self.gateway

    def kill(self):
        """SIGKILL: no drain, no flush; whatever the log holds is replayed by the next start."""
        self.gateway.signal(signal.SIGKILL)
        self.gateway.wait(timeout=10)

    def terminate(self):
        """SIGTERM: drain, flush the meter, exit 0."""
        self.gateway.signal(signal.SIGTERM)
        code = self.gateway.wait(timeout=60)
        assert code == 0, f"cic-control exited with {code}"

    def metric(self, name):
        r = harness.request(self.admin_port_fixed, "GET", "/metrics", timeout=5)
        total = 0.0
        for line in r.body.decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def replayed_per_start(self):
        """How many records each start found in the log to replay, from the daemon's log lines."""
        counts = []
        for line in self.gateway.log().splitlines():
            try:
                message = json.loads(line).get("msg", "")
            except ValueError:
                message = line
            if "records to replay" in message:
                counts.append(int(message.split("): ")[1].split(" ")[0]))
        return counts

    # -- the store ---------------------------------------------------------------------------
    def query(self, sql):
        if self.backend == "postgres":
            return self.pg.query(sql)
        with sqlite3.connect(os.path.join(self.var, "cic.db"), timeout=30) as conn:
            return [list(row) for row in conn.execute(sql)]

    def stored_ids(self):
        return [row[0] for row in self.query("SELECT request_id FROM usage_records")]

    def totals(self):
        """(rows, distinct request ids, prompt tokens, completion tokens) of usage_records, and
        (requests, prompt, completion) of usage_hourly."""
        rows = tuple(int(v) for v in self.query(TOTALS_SQL)[0])
        hourly = tuple(int(v) for v in self.query(HOURLY_SQL)[0])
        return rows, hourly


class Loadgen:
    """One cic-loadgen run in the background (open loop) that writes the x-request-id of every
    request it saw complete to a file, read by `completed_ids()` once it has finished."""

    def __init__(self, env, rate, duration_s, stream, max_tokens=16, timeout_ms=5000, label=""):
        self.ids_path = os.path.join(env.procs.tmp, f"ids-{label or ('stream' if stream else 'json')}.txt")
        body = chat(max_tokens=max_tokens, stream=True, stream_options={"include_usage": True}) if stream \
            else chat(max_tokens=max_tokens)
        self.proc = subprocess.Popen(
            [os.path.join(harness.BIN_DIR, "cic-loadgen"), "--url", f"http://127.0.0.1:{env.http_port}/v1/chat/completions",
             "--rate", str(rate), "--duration", str(duration_s), "--connections", "32", "--max-connections", "512",
             "--timeout-ms", str(timeout_ms), "--header", f"Authorization: Bearer {env.api_key}",
             "--header", "Content-Type: application/json", "--body", json.dumps(body), "--json",
             "--ids-file", self.ids_path, "--label", label, *(["--stream"] if stream else [])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.report = None

    def wait(self, timeout):
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        self.report = json.loads(out)
        return self.report

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def completed_ids(self):
        with open(self.ids_path) as f:
            return [line.strip() for line in f if line.strip()]


def compare(completed, stored):
    """The set comparison the durability checks make; returns a dict of the figures."""
    completed_set = set(completed)
    stored_set = set(stored)
    return {
        "completed": len(completed),
        "completed_distinct": len(completed_set),
        "stored": len(stored),
        "stored_distinct": len(stored_set),
        "lost": sorted(completed_set - stored_set),
        # Records for requests the load generator never saw complete: the ones in flight when the
        # daemon died (the node had generated their tokens, so they are billed).
        "extra": len(stored_set - completed_set),
    }
