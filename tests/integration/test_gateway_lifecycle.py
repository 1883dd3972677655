"""cic-control as an operator runs it: failover, timeouts, SIGTERM drain, restart, TLS, config errors."""
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import unittest
import warnings

import harness
from gateway_fixture import CHAT, GatewayEnv, StreamReader, chat


class FailoverTest(unittest.TestCase):
    def setUp(self):
        self.env = GatewayEnv()
        self.addCleanup(self.env.stop)

    def test_dead_node_is_skipped_and_requests_succeed(self):
        self.env.add_dead_node("dead", CHAT)
        self.env.start_node("alive", CHAT)
        self.env.start_gateway()
        for _ in range(10):
            r = self.env.post("/v1/chat/completions", chat(max_tokens=2))
            self.assertEqual(r.status, 200, r.body)

    def test_connection_closed_by_idle_node_is_retried_transparently(self):
        # The node drops idle keep-alive connections after 100 ms; pooled ones must not leak errors.
        self.env.start_node("brief", CHAT, "chat", "--keep-alive-ms", "100")
        self.env.start_gateway()
        for _ in range(3):
            self.assertEqual(self.env.post("/v1/chat/completions", chat(max_tokens=1)).status, 200)
            time.sleep(0.3)  # longer than the node's keep-alive: the pooled connection is now closed
        stream = StreamReader(self.env.port, "/v1/chat/completions", chat(stream=True, max_tokens=2), self.env.auth())
        self.assertEqual(stream.status, 200)
        self.assertEqual(stream.all_events()[-1][1], "[DONE]")
        stream.close()

    def test_node_that_never_answered_is_never_routed_to(self):
        # A node must pass its readiness probe before it takes traffic: a dead one never does.
        self.env.add_dead_node("dead", CHAT)
        self.env.start_gateway()
        r = self.env.post("/v1/chat/completions", chat())
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.json()["error"]["code"], "no_capacity")
        self.assertEqual(r.header("retry-after"), "5")

    def test_only_node_dying_gives_502_then_503(self):
        self.env.start_node("doomed", CHAT)
        # Probes far apart, so only the failed request itself can notice the death.
        self.env.start_gateway(extra="health: {interval_ms: 60000}\n")
        self.assertEqual(self.env.post("/v1/chat/completions", chat(max_tokens=1)).status, 200)
        self.env.node_proc("doomed").signal(signal.SIGKILL)
        self.env.node_proc("doomed").wait()
        first = self.env.post("/v1/chat/completions", chat())
        self.assertEqual(first.status, 502, first.body)
        self.assertEqual(first.json()["error"]["code"], "upstream_error")
        # The failed node is ejected for a moment: no node left means 503 with Retry-After.
        second = self.env.post("/v1/chat/completions", chat())
        self.assertEqual(second.status, 503, second.body)
        self.assertEqual(second.header("retry-after"), "5")

    def test_node_5xx_fails_over_then_502(self):
        self.env.start_node("broken", CHAT, "chat", "--error-rate", "1")
        self.env.start_node("fine", CHAT)
        self.env.start_gateway()
        for _ in range(6):
            self.assertEqual(self.env.post("/v1/chat/completions", chat(max_tokens=2)).status, 200)
        harness.request(self.env.node_port("fine"), "POST", "/sim/config", body={"error_rate": 1})
        r = self.env.post("/v1/chat/completions", chat(max_tokens=2))
        self.assertEqual(r.status, 502, r.body)
        self.assertEqual(set(r.json()["error"]), {"message", "type", "param", "code"})

    def test_hanging_node_gives_504(self):
        self.env.start_node("hang", CHAT)
        self.env.start_gateway(upstream_extra="  first_byte_timeout_ms: 300\n", extra="health: {interval_ms: 60000}\n")
        # Ready first (a hanging node never passes readiness), then it stops answering.
        harness.request(self.env.node_port("hang"), "POST", "/sim/config", body={"hang": True})
        start = time.monotonic()
        r = self.env.post("/v1/chat/completions", chat())
        self.assertEqual(r.status, 504, r.body)
        self.assertEqual(r.json()["error"]["code"], "upstream_timeout")
        self.assertLess(time.monotonic() - start, 5)

    def test_node_dying_mid_stream_ends_stream_with_error_event(self):
        # 4 tokens: the readiness probe's one-token inference, then 3 of the stream.
        self.env.start_node("dies", CHAT, "chat", "--die-after-tokens", "4", "--inter-token-ms", "20")
        self.env.start_gateway()
        s = StreamReader(self.env.port, "/v1/chat/completions", chat(stream=True, max_tokens=20, ignore_eos=True), self.env.auth())
        rid = s.header("x-request-id")
        events = [p for _, p in s.all_events()]
        s.close()
        self.assertEqual(events[-1], "[DONE]")
        self.assertIn("error", json.loads(events[-2]))
        row = self.env.wait_usage(rid)[0]
        self.assertEqual(row["cancelled"], 1)
        self.assertEqual(row["completion_tokens"], 3)


class DrainTest(unittest.TestCase):
    def setUp(self):
        self.env = GatewayEnv()
        self.addCleanup(self.env.stop)
        self.env.start_node("slow", CHAT, "chat", "--inter-token-ms", "40")
        self.env.start_gateway()

    def test_sigterm_finishes_in_flight_stream_and_exits_zero(self):
        s = StreamReader(self.env.port, "/v1/chat/completions", chat(stream=True, max_tokens=25, ignore_eos=True), self.env.auth())
        rid = s.header("x-request-id")
        first = s.next_event()
        self.assertIsNotNone(first)
        self.env.gateway.signal(signal.SIGTERM)
        # New connections are refused once draining has begun.
        def refused():
            try:
                socket.create_connection(("127.0.0.1", self.env.port), timeout=1).close()
                return False
            except OSError:
                return True
        harness.wait_for(refused, timeout=5, what="listener to close")
        events = [p for _, p in s.all_events()]
        s.close()
        self.assertEqual(events[-1], "[DONE]")
        contents = [json.loads(p) for p in events[:-1]]
        tokens = sum(1 for c in contents if c["choices"] and c["choices"][0]["delta"].get("content"))
        self.assertEqual(tokens + (1 if '"content":" ' in first[1] else 0), 25)
        self.assertEqual(self.env.gateway.wait(timeout=15), 0)
        row = self.env.usage_rows(rid)
        self.assertEqual(len(row), 1, "the drained stream's usage record was flushed before exit")
        self.assertEqual(row[0]["completion_tokens"], 25)


class RestartTest(unittest.TestCase):
    def test_restart_over_existing_data_keeps_the_key(self):
        env = GatewayEnv()
        self.addCleanup(env.stop)
        env.start_node("n", CHAT)
        env.start_gateway()
        key = env.api_key
        self.assertEqual(env.post("/v1/chat/completions", chat(max_tokens=1)).status, 200)
        env.gateway.signal(signal.SIGTERM)
        self.assertEqual(env.gateway.wait(timeout=15), 0)
        env.start_gateway()
        self.assertEqual(env.api_key, key)
        self.assertEqual(env.post("/v1/chat/completions", chat(max_tokens=1)).status, 200)
        with env.db() as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM orgs").fetchone()[0], 1)
            self.assertEqual(db.execute("SELECT COUNT(*) FROM api_keys").fetchone()[0], 1)


class TlsTest(unittest.TestCase):
    def test_https_with_tls12_or_newer_only(self):
        env = GatewayEnv()
        self.addCleanup(env.stop)
        cert, key = env.procs.path("cert.pem"), env.procs.path("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
        env.start_node("n", CHAT)
        env.start_gateway(tls=(cert, key))
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        import http.client
        conn = http.client.HTTPSConnection("127.0.0.1", env.port, context=ctx, timeout=10)
        conn.request("POST", "/v1/chat/completions", body=json.dumps(chat(max_tokens=2)), headers=env.auth())
        r = conn.getresponse()
        self.assertEqual(r.status, 200, r.read())
        r.read()
        conn.close()
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                old.minimum_version = ssl.TLSVersion.TLSv1
                old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            self.skipTest("this Python/OpenSSL cannot offer TLS 1.1 at all")
        with socket.create_connection(("127.0.0.1", env.port), timeout=5) as raw:
            with self.assertRaises(ssl.SSLError):
                old.wrap_socket(raw).do_handshake()
        # Plain HTTP on the TLS port gets no answer but does not hurt the server.
        with socket.create_connection(("127.0.0.1", env.port), timeout=5) as raw:
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                raw.recv(100)
            except OSError:
                pass
        conn = http.client.HTTPSConnection("127.0.0.1", env.port, context=ctx, timeout=10)
        conn.request("GET", "/healthz")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()


class ConfigErrorTest(unittest.TestCase):
    def run_control(self, *args):
        return subprocess.run([os.path.join(harness.BIN_DIR, "cic-control"), *args], capture_output=True, text=True,
                              timeout=30)

    def test_check_config_accepts_shipped_files(self):
        r = self.run_control("--check-config", os.path.join(harness.SOURCE_DIR, "config", "dev.yaml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK", r.stdout)

    def test_check_config_names_file_key_and_reason(self):
        env = GatewayEnv()
        self.addCleanup(env.stop)
        path = env.write_config(server_extra="  bogus_key: 1\n")
        with open(path) as f:
            text = f.read().replace('threads: 2', 'threads: lots')
        with open(path, "w") as f:
            f.write(text)
        r = self.run_control("--check-config", path)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"{path}: server.threads:", r.stderr)
        self.assertIn(f"{path}: server.bogus_key:", r.stderr)
        r = self.run_control("--config", path)
        self.assertEqual(r.returncode, 2)
        self.assertIn("server.threads", r.stderr)

    def test_missing_file(self):
        r = self.run_control("--check-config", "/nonexistent/cic.yaml")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/nonexistent/cic.yaml", r.stderr)


if __name__ == "__main__":
    unittest.main()
