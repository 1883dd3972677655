"""Helpers for the limits integration tests (test_limits.py, test_limits_redis.py).

Wraps admin_fixture.AdminEnv without changing it: `LimitsEnv` adds a top-level `limits:` section
to the config and can give one catalog model a price. Also: rate-limit header access, a /metrics
reader, a private redis-server that a test may freeze (SIGSTOP), kill and restart, and a paced
keep-alive load generator that records every request's latency and outcome.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time

import harness
from admin_fixture import AdminEnv
from gateway_fixture import CHAT, CHAT2, free_port

RATE_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
                "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens")

# CHAT2 gets this price in a LimitsEnv with priced=True: 2 USD per 1M input tokens, 1 USD per 1M
# output tokens, i.e. exactly 2 and 1 micro-dollars a token, so a cost in micro-dollars is an
# integer the test can compute exactly: 2 * prompt + completion.
PRICED = CHAT2
UNPRICED = CHAT
PRICE_IN_MICROS = 2
PRICE_OUT_MICROS = 1
_CHAT2_LINE = f"  - {{id: {CHAT2}, family: mistral, kind: chat, context_length: 8192}}"
_CHAT2_PRICED = (f"  - {{id: {CHAT2}, family: mistral, kind: chat, context_length: 8192, "
                 f"price: {{input_per_million_usd: {PRICE_IN_MICROS}, output_per_million_usd: {PRICE_OUT_MICROS}}}}}")


def estimate_prompt(contents):
    """The gateway's worst-case prompt estimate for chat messages: (content bytes + 16 each) / 4 + 1."""
    total = sum(len(c.encode()) + 16 for c in contents)
    return total // 4 + 1


def cost_micros(prompt, completion):
    return PRICE_IN_MICROS * prompt + PRICE_OUT_MICROS * completion


def minute_now():
    return int(time.time() * 1000) // 60000


def seconds_left_in_minute():
    return 60 - (time.time() % 60)


def local_limits_yaml():
    return "limits: {backend: local}"


def redis_limits_yaml(url, replicas=1, timeout_ms=25, cooldown_ms=1000, fail_closed=False):
    return (f"limits:\n  backend: redis\n  redis: {{url: \"{url}\", timeout_ms: {timeout_ms}, "
            f"breaker_cooldown_ms: {cooldown_ms}}}\n  replicas: {replicas}\n"
            f"  fail_closed: {'true' if fail_closed else 'false'}")


class LimitsEnv(AdminEnv):
    def __init__(self, limits_yaml=None, priced=False, backend="sqlite", dsn=None):
        super().__init__(backend=backend, dsn=dsn)
        self.limits_yaml = limits_yaml or local_limits_yaml()
        self.priced = priced

    def config_text(self, bootstrap=True, extra=""):
        text = super().config_text(bootstrap=bootstrap, extra=extra + "\n" + self.limits_yaml + "\n")
        if self.priced:
            assert _CHAT2_LINE in text, "admin_fixture's model catalog changed; update limits_fixture"
            text = text.replace(_CHAT2_LINE, _CHAT2_PRICED)
        return text

    def tenant(self, name, env_body=None, keys=None, org_body=None):
        """An org, one environment (dev, india) and keys: `keys` maps key name -> create body.
        Returns (org, env, {name: key secret})."""
        org = self.create_org(name, **(org_body or {}))
        env = self.create_env(org["id"], **(env_body or {}))
        made = {}
        for key_name, body in (keys or {"k": {}}).items():
            made[key_name] = self.create_key(org["id"], env["id"], name=key_name, **body)["key"]
        return org, env, made

    def env_usage(self, environment_id):
        with self.db() as conn:
            rows = conn.execute("SELECT request_id, prompt_tokens, completion_tokens, cancelled FROM usage_records "
                                "WHERE environment_id = ?", (environment_id,)).fetchall()
        return [dict(zip(("request_id", "prompt_tokens", "completion_tokens", "cancelled"), r)) for r in rows]

    def usage_by_ids(self, ids):
        out = {}
        ids = list(ids)
        with self.db() as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                q = ("SELECT request_id, prompt_tokens, completion_tokens, cancelled FROM usage_records "
                     f"WHERE request_id IN ({','.join('?' * len(chunk))})")
                for r in conn.execute(q, chunk):
                    out[r[0]] = {"prompt_tokens": r[1], "completion_tokens": r[2], "cancelled": r[3]}
        return out

    def sim_config(self, node_id, **values):
        r = harness.request(self.node_port(node_id), "POST", "/sim/config", body=values)
        assert r.status == 200, (r.status, r.body)
        return r.json()


def rate_headers(response):
    return {h: response.header(h) for h in RATE_HEADERS}


def error_of(response):
    try:
        return response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return {}


def metrics_text(admin_port):
    r = harness.request(admin_port, "GET", "/metrics", timeout=5)
    assert r.status == 200, (r.status, r.body[:200])
    return r.body.decode()


def metric_value(text_or_port, name):
    """Sum of every sample of `name` (any labels); 0 when absent."""
    text = metrics_text(text_or_port) if isinstance(text_or_port, int) else text_or_port
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def node_running(port):
    return metric_value(metrics_text(port), "vllm:num_requests_running")


class RedisServer:
    """A private redis-server in the foreground (subprocess), on its own free port."""

    def __init__(self, workdir, port=None):
        self.workdir = workdir
        self.port = port or free_port()
        self.proc = None
        self.log_path = os.path.join(workdir, f"redis-{self.port}.log")
        self.frozen = False

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout=10):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.workdir],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.frozen = False

        def up():
            if self.proc.poll() is not None:
                with open(self.log_path, errors="replace") as f:
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{f.read()}")
            return self.command("PING") == "PONG"

        harness.wait_for(up, timeout=timeout, what=f"redis-server on port {self.port}")
        return self

    def command(self, *args, timeout=1.0):
        """One RESP command on a fresh connection; returns a str/int, or None if unreachable."""
        payload = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(str(a).encode())}\r\n".encode() + str(a).encode() + b"\r\n" for a in args)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                s.sendall(payload)
                data = b""
                while b"\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        return None
                    data += chunk
        except OSError:
            return None
        line = data.split(b"\r\n", 1)[0].decode()
        if line[:1] in "+-":
            return line[1:]
        if line[:1] == ":":
            return int(line[1:])
        return line

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)
        self.frozen = False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            if self.frozen:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.frozen = False

    def stop(self):
        self.kill()


class PacedLoad:
    """`threads` threads, each on its own keep-alive connection, together sending about `rate`
    requests a second (each thread on a fixed schedule; a late thread sends at once), until
    stop() or `max_seconds` / `max_requests`. Every request is recorded as
    (send time, latency s or None, status or error kind). A request without an answer within
    `timeout` s counts as hung ("timeout")."""

    def __init__(self, port, path, body, headers, rate, threads=8, timeout=2.0, max_seconds=120, max_requests=100_000):
        self.port = port
        self.path = path
        self.body = json.dumps(body)
        self.headers = headers
        self.interval = threads / rate
        self.threads_n = threads
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.samples = []  # (t_send monotonic, latency, status|kind)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.started = None

    def _worker(self, index):
        conn = None
        next_at = self.started + index * self.interval / self.threads_n
        deadline = self.started + self.max_seconds
        while not self.stopping.is_set():
            now = time.monotonic()
            if now > deadline or len(self.samples) >= self.max_requests:
                break
            if now < next_at:
                # Pacing of the load itself, not a wait for a condition.
                self.stopping.wait(next_at - now)
                continue
            next_at += self.interval
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            t0 = time.monotonic()
            try:
                conn.request("POST", self.path, body=self.body, headers=self.headers)
                resp = conn.getresponse()
                resp.read()
                outcome = resp.status
                latency = time.monotonic() - t0
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except socket.timeout:
                outcome, latency = "timeout", None
                conn.close()
                conn = None
            except (OSError, http.client.HTTPException) as e:
                outcome, latency = type(e).__name__, time.monotonic() - t0
                conn.close()
                conn = None
            with self.lock:
                self.samples.append((t0, latency, outcome))
        if conn is not None:
            conn.close()

    def start(self):
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(self.threads_n)]
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=self.timeout + 5)

    def window(self, t_from, t_to):
        with self.lock:
            return [s for s in self.samples if t_from <= s[0] < t_to]


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(samples):
    """(count, p50 ms, p99 ms, max ms, hung, non-200 outcomes dict) of a list of samples."""
    lat = [s[1] for s in samples if s[1] is not None]
    hung = sum(1 for s in samples if s[2] == "timeout")
    other = {}
    for s in samples:
        if s[2] != 200:
            other[s[2]] = other.get(s[2], 0) + 1
    if not lat:
        return len(samples), None, None, None, hung, other
    return (len(samples), percentile(lat, 50) * 1000, percentile(lat, 99) * 1000, max(lat) * 1000, hung, other)
