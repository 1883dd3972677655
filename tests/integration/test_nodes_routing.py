"""Nodes under traffic: a node killed under 500 req/s loses nothing, draining lets 50 live streams
finish while new requests go elsewhere, an eviction deadline cuts what is left cleanly, and a
strict-residency environment never leaves its region."""
import json
import os
import signal
import subprocess
import time
import unittest

import harness
from admin_fixture import AdminEnv
from gateway_fixture import CHAT, StreamReader, chat


class RegionalEnv(AdminEnv):
    """AdminEnv whose nodes may live in either configured region (india, apac)."""

    def __init__(self):
        super().__init__()
        self.region_of = {}

    def start_node_in(self, region, node_id, *flags, model=CHAT, port=0):
        self.region_of[node_id] = region
        proc = self.procs.start("cic-node-sim", ["--listen", f"127.0.0.1:{port}", "--model", f"{model}:chat", *flags],
                                name=f"{node_id}-{len([n for n in self.nodes if n[0] == node_id])}")
        self.nodes = [n for n in self.nodes if n[0] != node_id] + [(node_id, model, proc.ready["port"], proc)]
        return proc

    def config_text(self, bootstrap=True, extra=""):
        text = super().config_text(bootstrap=bootstrap, extra=extra)
        for node_id, region in self.region_of.items():
            text = text.replace(f"{{id: {node_id}, region: india,", f"{{id: {node_id}, region: {region},")
        return text

    def node(self, node_id):
        r = self.admin("GET", f"/nodes/{node_id}")
        assert r.status == 200, r.body
        return r.json()

    def sim_stats(self, node_id):
        return harness.request(self.node_port(node_id), "GET", "/sim/stats").json()

    def node_pid(self, node_id):
        return self.node_proc(node_id).pid


FAST_HEALTH = "health: {interval_ms: 1000, timeout_ms: 500}\nregistry: {allow_loopback_endpoints: true}\n"


class KillUnderLoadTest(unittest.TestCase):
    def test_sigkill_of_one_of_four_nodes_under_500_rps_loses_no_request(self):
        env = RegionalEnv()
        self.addCleanup(env.stop)
        for i in range(4):
            env.start_node_in("india", f"n{i}")
        replica = env.start_replica(extra=FAST_HEALTH)
        for i in range(4):
            harness.wait_for(lambda: env.node(f"n{i}")["state"] == "ready", timeout=10, what=f"n{i} ready")

        loadgen = subprocess.Popen(
            [os.path.join(harness.BIN_DIR, "cic-loadgen"), "--url", f"http://127.0.0.1:{replica.port}/v1/chat/completions",
             "--rate", "500", "--duration", "9", "--connections", "32", "--max-connections", "512",
             "--timeout-ms", "5000", "--header", f"Authorization: Bearer {env.api_key}",
             "--header", "Content-Type: application/json", "--body", json.dumps(chat(max_tokens=2)), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: loadgen.poll() is None and loadgen.kill())
        time.sleep(2.0)
        victim_port = env.node_port("n1")
        env.node_proc("n1").signal(signal.SIGKILL)
        env.node_proc("n1").wait()
        killed_at = time.monotonic()
        # Ejected within one health interval (1 s), by the failing probes or the failing requests.
        harness.wait_for(lambda: not env.node("n1")["health"]["healthy"] or env.node("n1")["health"].get("ejected"),
                         timeout=5, interval=0.02, what="n1 ejected")
        ejected_after = time.monotonic() - killed_at
        # One health interval is 1 s; the probe itself and a loaded CI machine get a little slack.
        self.assertLessEqual(ejected_after, 1.5, f"n1 ejected {ejected_after:.2f} s after SIGKILL")

        time.sleep(1.5)
        env.start_node_in("india", "n1", port=victim_port)  # back on the same address
        back_at = time.monotonic()
        harness.wait_for(lambda: env.node("n1")["health"]["healthy"] and env.node("n1")["state"] == "ready",
                         timeout=5, interval=0.02, what="n1 readmitted")
        readmitted_after = time.monotonic() - back_at

        out, err = loadgen.communicate(timeout=30)
        self.assertEqual(loadgen.returncode, 0, err)
        report = json.loads(out)
        requests = report["requests"]
        self.assertGreater(requests["ok"], 4000, report)
        self.assertEqual(requests["non_2xx"], 0, report["status_counts"])
        self.assertEqual(requests["errors"], 0, report["error_counts"])
        self.assertEqual(requests["unfinished"], 0, report)
        self.assertLessEqual(readmitted_after, 3.0)
        # The restarted node takes its share again (4 nodes at 500 req/s for the rest of the run).
        after_restart = env.sim_stats("n1")["requests_total"]
        self.assertGreater(after_restart, 50, json.dumps(env.node("n1")))
        print(f"\n  SIGKILL under {report['achieved_rps']} req/s: {requests['ok']} ok, 0 lost; "
              f"ejected after {ejected_after * 1000:.0f} ms, readmitted {readmitted_after * 1000:.0f} ms after restart, "
              f"then took {after_restart} requests; p99 {report['latency_ms']['p99']:.2f} ms")


class DrainTest(unittest.TestCase):
    def test_draining_a_node_with_50_live_streams_completes_them_while_new_requests_go_elsewhere(self):
        env = RegionalEnv()
        self.addCleanup(env.stop)
        env.start_node_in("india", "old", "--inter-token-ms", "40")
        env.start_replica(extra=FAST_HEALTH)
        harness.wait_for(lambda: env.node("old")["state"] == "ready", timeout=10, what="old ready")

        tokens = 40
        streams = [StreamReader(env.main.port, "/v1/chat/completions",
                                chat(stream=True, max_tokens=tokens, ignore_eos=True), env.auth())
                   for _ in range(50)]
        for s in streams:
            self.assertEqual(s.status, 200)
        self.assertEqual(env.node("old")["health"]["in_flight"], 50)

        new = env.start_node_in("india", "new")
        r = env.admin("POST", "/nodes", {"id": "new", "region": "india", "provider": "test", "models": [CHAT],
                                         "endpoint": f"http://127.0.0.1:{new.ready['port']}"})
        self.assertEqual(r.status, 201, r.body)
        harness.wait_for(lambda: env.node("new")["state"] == "ready", timeout=10, what="new ready")

        r = env.admin("POST", "/nodes/old/drain")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["state"], "draining")
        old_requests = env.sim_stats("old")["requests_total"]
        for _ in range(20):
            self.assertEqual(env.main.client(env.api_key).status, 200)
        self.assertEqual(env.sim_stats("old")["requests_total"], old_requests, "a draining node got a new request")
        self.assertEqual(env.node("old")["state"], "draining", "streams are still running")

        for s in streams:
            events = [p for _, p in s.all_events()]
            s.close()
            self.assertEqual(events[-1], "[DONE]")
            chunks = [json.loads(p) for p in events[:-1]]
            self.assertFalse([c for c in chunks if "error" in c], "no stream was cut")
            content = sum(1 for c in chunks if c.get("choices") and c["choices"][0]["delta"].get("content"))
            self.assertEqual(content, tokens)
        harness.wait_for(lambda: env.node("old")["state"] == "drained", timeout=5, what="old drained")

    def test_eviction_deadline_cuts_what_is_left_with_an_error_event_and_bills_what_was_sent(self):
        env = RegionalEnv()
        self.addCleanup(env.stop)
        env.start_node_in("india", "spot", "--inter-token-ms", "50")
        env.start_node_in("india", "steady")
        env.start_replica(extra=FAST_HEALTH + "routing: {default_strategy: least_connections}\n")
        for n in ("spot", "steady"):
            harness.wait_for(lambda: env.node(n)["state"] == "ready", timeout=10, what=f"{n} ready")
        env.admin("POST", "/nodes/steady/drain")  # so that the streams land on the spot node
        harness.wait_for(lambda: env.node("steady")["state"] == "drained", timeout=5, what="steady drained")
        streams = [StreamReader(env.main.port, "/v1/chat/completions",
                                chat(stream=True, max_tokens=200, ignore_eos=True), env.auth()) for _ in range(3)]
        ids = [s.header("x-request-id") for s in streams]
        for s in streams:
            self.assertIsNotNone(s.next_event())
        r = env.admin("POST", "/nodes/spot/eviction", {"seconds": 1})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["state"], "draining")
        self.assertIsNotNone(r.json()["eviction_deadline"])
        started = time.monotonic()
        for s in streams:
            events = [p for _, p in s.all_events()]
            s.close()
            self.assertEqual(events[-1], "[DONE]")
            self.assertIn("error", json.loads(events[-2]), "the cut stream ends with an error event")
        self.assertLess(time.monotonic() - started, 4)
        harness.wait_for(lambda: env.node("spot")["state"] == "drained", timeout=5, what="spot drained")
        for rid in ids:
            row = env.wait_usage(rid)[0]
            self.assertEqual(row["cancelled"], 1)
            self.assertGreater(row["completion_tokens"], 0, "the tokens sent before the cut are billed")
            self.assertLess(row["completion_tokens"], 200)
        metrics = harness.request(env.main.admin_port, "GET", "/metrics").body.decode()
        self.assertIn('cic_upstream_aborted_total{node="spot",region="india"} 3', metrics)


class ResidencyTest(unittest.TestCase):
    def setUp(self):
        self.env = RegionalEnv()
        self.addCleanup(self.env.stop)
        self.env.start_node_in("india", "in1")
        self.env.start_node_in("apac", "ap1")
        self.env.start_replica(extra=FAST_HEALTH)
        for n in ("in1", "ap1"):
            harness.wait_for(lambda: self.env.node(n)["state"] == "ready", timeout=10, what=f"{n} ready")
        r = self.env.admin("POST", "/orgs/acme/environments", {"name": "prod", "region": "india", "data_residency": "strict"})
        self.assertEqual(r.status, 201, r.body)
        r = self.env.admin("POST", "/orgs/acme/environments/prod/keys", {"name": "strict"})
        self.assertEqual(r.status, 201, r.body)
        self.strict_key = r.json()["key"]

    def requests_on(self, node_id):
        return self.env.sim_stats(node_id)["requests_total"]

    def test_strict_environment_never_reaches_another_region_even_when_its_own_is_empty(self):
        env = self.env
        before = self.requests_on("ap1")
        for _ in range(10):
            self.assertEqual(env.main.client(self.strict_key).status, 200)
        self.assertEqual(self.requests_on("ap1"), before)

        # The region empties: drained ...
        env.admin("POST", "/nodes/in1/drain")
        harness.wait_for(lambda: env.node("in1")["state"] == "drained", timeout=5, what="in1 drained")
        for _ in range(10):
            r = env.main.client(self.strict_key)
            self.assertEqual(r.status, 503, r.body)
            self.assertEqual(r.json()["error"]["code"], "no_capacity")
            self.assertEqual(r.header("retry-after"), "5")
        self.assertEqual(self.requests_on("ap1"), before, "a strict request reached apac")

        # ... while a flexible environment of the same org falls back to apac.
        self.assertEqual(env.main.client(env.api_key).status, 200)
        self.assertEqual(self.requests_on("ap1"), before + 1)
        metrics = harness.request(env.main.admin_port, "GET", "/metrics").body.decode()
        self.assertIn('cic_region_fallbacks_total{from="india",to="apac"} 1', metrics)

    def test_strict_environment_with_its_only_node_dead_gets_errors_not_another_region(self):
        env = self.env
        before = self.requests_on("ap1")
        env.node_proc("in1").signal(signal.SIGKILL)
        env.node_proc("in1").wait()
        for _ in range(10):
            r = env.main.client(self.strict_key)
            self.assertIn(r.status, (502, 503), r.body)
        harness.wait_for(lambda: not env.node("in1")["health"]["healthy"], timeout=5, what="in1 down")
        r = env.main.client(self.strict_key)
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(self.requests_on("ap1"), before, "a strict request reached apac")


if __name__ == "__main__":
    unittest.main()
