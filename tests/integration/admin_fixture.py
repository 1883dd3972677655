"""Admin REST API helpers: cic-control with an operator token, on SQLite or a fresh PostgreSQL
database, possibly several replicas sharing it, and a small client for /admin/v1/.

Builds on gateway_fixture.GatewayEnv (nodes, processes, temp dir) without changing it. Every
secret the admin API hands out (the "key" field of a 201) is remembered in `AdminEnv.secrets`, so
a test can check afterwards that none of them leaked into logs or database dumps.
"""
import os
import secrets
import shutil
import sqlite3
import subprocess
import time
import unittest
import urllib.parse

import harness
from gateway_fixture import MODELS_YAML, GatewayEnv, bootstrap_yaml, chat, nodes_yaml, store_yaml

POSTGRES_DSN = os.environ.get("CIC_TEST_POSTGRES_DSN", "")
NO_POSTGRES = "CIC_TEST_POSTGRES_DSN is unset: start PostgreSQL with tests/services.sh (make test does)"

# The built-in free plan (config/cic.example.yaml).
FREE_MAX = {"rpm": 600, "tpm": 1_000_000, "concurrency": 50}
# The free plan as the fixture configures it (see config_text): built-in maxima, generous defaults.
FREE_DEFAULT = {"rpm": 100_000, "tpm": 100_000_000, "concurrency": 1000}


def _pg_tool(name):
    for candidate in sorted(os.listdir("/usr/lib/postgresql"), reverse=True) if os.path.isdir("/usr/lib/postgresql") else []:
        path = os.path.join("/usr/lib/postgresql", candidate, "bin", name)
        if os.path.exists(path):
            return path
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found (PostgreSQL client tools)")
    return found


class PgDatabase:
    """A fresh database on the test PostgreSQL server, dropped by `drop()`."""

    def __init__(self, prefix="cic_it"):
        if not POSTGRES_DSN:
            raise RuntimeError(NO_POSTGRES)
        self.name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
        self.admin_dsn = POSTGRES_DSN
        self._psql(f'CREATE DATABASE "{self.name}"')
        parts = urllib.parse.urlsplit(POSTGRES_DSN)
        self.dsn = urllib.parse.urlunsplit(parts._replace(path="/" + self.name))

    def _psql(self, sql, dsn=None):
        out = subprocess.run([_pg_tool("psql"), dsn or self.admin_dsn, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"psql {sql!r} failed: {out.stderr}")
        return out.stdout

    def query(self, sql):
        return self._psql(sql, self.dsn)

    def dump(self):
        out = subprocess.run([_pg_tool("pg_dump"), "--dbname", self.dsn, "--no-owner"], capture_output=True,
                             text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {out.stderr}")
        return out.stdout

    def drop(self):
        self._psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Replica:
    """One running cic-control and clients for its two listeners."""

    def __init__(self, env, proc):
        self.env = env
        self.proc = proc

    @property
    def port(self):
        return self.proc.ready["http_port"]

    @property
    def admin_port(self):
        return self.proc.ready["admin_port"]

    def admin(self, method, path, body=None, token=None, auth=True, headers=None):
        """`path` is under /admin/v1 (e.g. "/orgs"). token=None means the operator token;
        auth=False sends no Authorization header at all."""
        hdrs = dict(headers or {})
        if auth:
            hdrs["Authorization"] = f"Bearer {token if token is not None else self.env.operator_token}"
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        r = harness.request(self.admin_port, method, "/admin/v1" + path, body=body, headers=hdrs)
        self.env.remember_secrets(r)
        return r

    def client(self, key, path="/v1/chat/completions", body=None, method="POST"):
        hdrs = {"Content-Type": "application/json"}
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        if body is None and method == "POST":
            body = chat(max_tokens=2)
        return harness.request(self.port, method, path, body=body, headers=hdrs)


class AdminEnv(GatewayEnv):
    """GatewayEnv with the admin API on (operator token), SQLite or PostgreSQL, N replicas."""

    def __init__(self, backend="sqlite", dsn=None):
        super().__init__()
        self.backend = backend
        self.dsn = dsn
        self.operator_token = "op-" + secrets.token_hex(20)  # 43 characters, >= 24
        self.replicas = []
        self.secrets = set()
        self.cache_ttl_ms = 30000
        self.log_level = "info"
        self.pool_size = 4

    # -- config ------------------------------------------------------------------------------
    def config_text(self, bootstrap=True, extra=""):
        return f"""
server:
  listen: "127.0.0.1:0"
  threads: 2
  shutdown_grace_ms: 10000
admin:
  listen: "127.0.0.1:0"
  operator_token: "{self.operator_token}"
{store_yaml(self.var, self.backend, self.dsn, self.pool_size)}
auth:
  key_hash_secret: "integration-test-secret-0123456789abcdef"
  cache_ttl_ms: {self.cache_ttl_ms}
upstream:
  connect_timeout_ms: 1000
regions:
  - {{name: india, fallback: [apac]}}
  - {{name: apac, fallback: [india]}}
{MODELS_YAML}
nodes:
{nodes_yaml(self.nodes)}
plans:
  # The built-in free plan's maxima, with defaults high enough that tests which poll the client
  # API never meet a rate limit by accident.
  - {{name: free, default_limits: {{rpm: 100000, tpm: 100000000, concurrency: 1000}}, max_limits: {{rpm: 600, tpm: 1000000, concurrency: 50}}}}
  - {{name: pro, default_limits: {{rpm: 100000, tpm: 100000000, concurrency: 1000}}, max_limits: {{rpm: 6000, tpm: 10000000, concurrency: 500}}}}
  - {{name: enterprise, default_limits: {{rpm: 100000, tpm: 100000000, concurrency: 1000}}}}
{bootstrap_yaml(self.var, plan=None, enabled=bootstrap)}
logging: {{level: {self.log_level}, format: json}}
{extra}
"""

    def start_replica(self, name="cic-control", bootstrap=True, extra=""):
        path = self.procs.path(f"{name}.yaml")
        with open(path, "w") as f:
            f.write(self.config_text(bootstrap=bootstrap, extra=extra))
        proc = self.procs.start("cic-control", ["--config", path], name=name)
        replica = Replica(self, proc)
        self.replicas.append(replica)
        if self.gateway is None:
            self.gateway = proc
            self.config_path = path
        if bootstrap:
            with open(os.path.join(self.var, "api-key")) as f:
                self.api_key = f.read().strip()
            self.secrets.add(self.api_key)
        return replica

    def start_gateway(self, **_):
        return self.start_replica().proc

    @property
    def main(self):
        return self.replicas[0]

    def admin(self, *args, **kwargs):
        return self.main.admin(*args, **kwargs)

    def remember_secrets(self, response):
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(body, dict) and isinstance(body.get("key"), str):
            self.secrets.add(body["key"])

    # -- leak checks -------------------------------------------------------------------------
    def all_secrets(self):
        return set(self.secrets) | {self.operator_token}

    def log_texts(self):
        """Every log file the harness wrote (cic-control replicas and nodes)."""
        texts = {}
        for name in sorted(os.listdir(self.procs.tmp)):
            if name.endswith(".log"):
                with open(os.path.join(self.procs.tmp, name), errors="replace") as f:
                    texts[name] = f.read()
        return texts

    def sqlite_dump(self):
        conn = sqlite3.connect(os.path.join(self.var, "cic.db"), timeout=10)
        try:
            return "\n".join(conn.iterdump())
        finally:
            conn.close()

    def sqlite_raw_bytes(self):
        out = b""
        for suffix in ("", "-wal", "-journal"):
            path = os.path.join(self.var, "cic.db" + suffix)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    out += f.read()
        return out

    # -- resources ---------------------------------------------------------------------------
    def create_org(self, name, plan=None, **extra):
        body = {"name": name, "email": f"ops@{name}.example"}
        if plan:
            body["plan"] = plan
        body.update(extra)
        r = self.admin("POST", "/orgs", body)
        assert r.status == 201, (r.status, r.body)
        return r.json()

    def create_env(self, org, name="dev", region="india", token=None, **extra):
        body = {"name": name, "region": region}
        body.update(extra)
        r = self.admin("POST", f"/orgs/{org}/environments", body, token=token)
        assert r.status == 201, (r.status, r.body)
        return r.json()

    def create_key(self, org, env, token=None, **body):
        r = self.admin("POST", f"/orgs/{org}/environments/{env}/keys", body, token=token)
        assert r.status == 201, (r.status, r.body)
        return r.json()

    def create_admin_key(self, org, name="admin"):
        r = self.admin("POST", f"/orgs/{org}/admin-keys", {"name": name})
        assert r.status == 201, (r.status, r.body)
        return r.json()

    def stop(self):
        super().stop()


def error_code(response):
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def error_param(response):
    try:
        return response.json()["error"]["param"]
    except (ValueError, KeyError, TypeError):
        return None


def wait_status(fn, status, timeout, what):
    """Polls fn() (a Response) until it answers `status`; returns (response, seconds waited)."""
    start = time.monotonic()
    last = {}

    def check():
        r = fn()
        last["r"] = r
        return r if r.status == status else None

    try:
        r = harness.wait_for(check, timeout=timeout, interval=0.01, what=what)
    except TimeoutError as e:
        r = last.get("r")
        raise AssertionError(f"{e}; last answer {r.status if r else None}: {r.body[:300] if r else ''}") from None
    return r, time.monotonic() - start


ERROR_KEYS = {"message", "type", "param", "code"}


class AdminTestCase(unittest.TestCase):
    """Admin API tests over one environment shared by the class: `ENV()` (see make_env), its
    `NODES` started as (id, model) pairs, then the gateway. A class whose tests build their own
    environments sets ENV = None."""

    ENV = AdminEnv
    NODES = ()
    env = None

    @classmethod
    def make_env(cls):
        return cls.ENV() if cls.ENV else None

    @classmethod
    def start_env(cls, env):
        for node_id, model in cls.NODES:
            env.start_node(node_id, model)
        env.start_gateway()

    @classmethod
    def setUpClass(cls):
        cls.env = cls.make_env()
        if cls.env is None:
            return
        try:
            cls.start_env(cls.env)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.env is not None:
            cls.env.stop()

    # -- helpers -------------------------------------------------------------------------------
    def admin(self, *args, **kwargs):
        return self.env.admin(*args, **kwargs)

    def assertError(self, r, status, code=None, param=None):
        """An OpenAI-shaped error with this status (and code and param, when given)."""
        self.assertEqual(r.status, status, r.body)
        err = r.json()["error"]
        self.assertEqual(set(err), ERROR_KEYS, r.body)
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"], r.body)
        if code is not None:
            self.assertEqual(err["code"], code, r.body)
        if param is not None:
            self.assertEqual(err["param"], param, r.body)
        return err


def postgres_variant(base, db_prefix):
    """The tests of `base` (an AdminTestCase) again on the PostgreSQL store, with a fresh database
    for the class; skipped without CIC_TEST_POSTGRES_DSN. Assign it to a module-level name."""

    class Variant(base):
        @classmethod
        def make_env(cls):
            cls.db = PgDatabase(db_prefix)
            return cls.ENV(backend="postgres", dsn=cls.db.dsn)

        @classmethod
        def tearDownClass(cls):
            try:
                super().tearDownClass()
            finally:
                cls.db.drop()

    Variant.__name__ = Variant.__qualname__ = base.__name__.removesuffix("Test") + "PostgresTest"
    Variant.__module__ = base.__module__
    Variant.__doc__ = f"{base.__name__} with the PostgreSQL store (a fresh database for the class)."
    return unittest.skipUnless(POSTGRES_DSN, NO_POSTGRES)(Variant)

