"""Shared helpers for integration tests: start the real binaries on port 0, talk HTTP to them.

Standard library only. Every process a test starts is stopped by `Processes.stop_all()` (call it in
tearDown / addCleanup). Nothing here sleeps to wait for a thing: `wait_for` polls with a deadline.
"""
import http.client
import json
import os
import signal
import subprocess
import tempfile
import time

BUILD_DIR = os.path.abspath(os.environ.get("CIC_BUILD_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")))
SOURCE_DIR = os.environ.get("CIC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.path.join(BUILD_DIR, "bin")


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls `predicate` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def read_ready_file(path):
    try:
        with open(path) as f:
            text = f.read()
        return json.loads(text) if text.strip() else None
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class Proc:
    """One started binary: its Popen, its ready-file JSON and its log file."""

    def __init__(self, popen, ready, log_path):
        self.popen = popen
        self.ready = ready
        self.log_path = log_path

    @property
    def pid(self):
        return self.popen.pid

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def signal(self, sig):
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout=30):
        return self.popen.wait(timeout=timeout)


class Processes:
    """Starts binaries with `--ready-file` and stops them all at the end."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="cic-it-")
        self.procs = []

    def path(self, name):
        return os.path.join(self.tmp, name)

    def start(self, binary, args, name, timeout=20, env=None):
        ready_path = self.path(f"{name}.ready.json")
        log_path = self.path(f"{name}.log")
        if os.path.exists(ready_path):
            os.unlink(ready_path)
        log = open(log_path, "ab")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        # Run in the test's temp dir, so relative default paths (e.g. billing.wal_dir "var/...")
        # never land in the source tree or get shared between tests.
        popen = subprocess.Popen([os.path.join(BIN_DIR, binary), *args, "--ready-file", ready_path],
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env,
                                 cwd=self.tmp)
        log.close()
        proc = Proc(popen, None, log_path)
        self.procs.append(proc)

        def ready():
            if popen.poll() is not None:
                raise RuntimeError(f"{binary} exited with {popen.returncode}:\n{proc.log()}")
            return read_ready_file(ready_path)

        proc.ready = wait_for(ready, timeout=timeout, what=f"{binary} to be ready")
        return proc

    def stop_all(self):
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGKILL)
                proc.popen.wait(timeout=10)
        self.procs.clear()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


def request(port, method, path, body=None, headers=None, host="127.0.0.1", timeout=30):
    """One HTTP request on a fresh connection; `body` may be bytes, str or a JSON-able object."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def sse_events(raw):
    """Splits an SSE body into the payloads of its `data:` lines (strings, '[DONE]' included)."""
    events = []
    for block in raw.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data:"):
                events.append(line[5:].strip())
    return events
