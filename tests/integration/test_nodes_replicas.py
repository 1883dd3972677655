"""Two cic-control replicas on one PostgreSQL database share the node table: a node added,
drained or deleted through one is followed by the other within a few seconds, and an agent whose
heartbeats reach only one replica stays alive on both."""
import time
import unittest

import harness
from admin_fixture import NO_POSTGRES, POSTGRES_DSN, AdminEnv, PgDatabase
from gateway_fixture import CHAT2, StreamReader, chat

SYNC_S = 6  # sync every 2 s, plus a probe round, with slack for a loaded machine
EXTRA = ("health: {interval_ms: 500, timeout_ms: 500}\n"
         "registry: {allow_loopback_endpoints: true, heartbeat_timeout_ms: 3000}\n")


@unittest.skipUnless(POSTGRES_DSN, NO_POSTGRES)
class NodeReplicasTest(unittest.TestCase):
    def setUp(self):
        self.db = PgDatabase("cic_node_replicas")
        self.env = AdminEnv(backend="postgres", dsn=self.db.dsn)
        self.addCleanup(self.db.drop)
        self.addCleanup(self.env.stop)
        self.a = self.env.start_replica("cic-control-a", bootstrap=True, extra=EXTRA)
        self.b = self.env.start_replica("cic-control-b", bootstrap=False, extra=EXTRA)

    def node_on(self, replica, node_id):
        r = replica.admin("GET", f"/nodes/{node_id}")
        return r.json() if r.status == 200 else None

    def test_added_drained_and_deleted_nodes_reach_the_other_replica(self):
        sim = self.env.procs.start("cic-node-sim", ["--listen", "127.0.0.1:0", "--model", f"{CHAT2}:chat"], name="extra")
        r = self.a.admin("POST", "/nodes", {"id": "x1", "region": "india", "provider": "test", "models": [CHAT2],
                                            "endpoint": f"http://127.0.0.1:{sim.ready['port']}"})
        self.assertEqual(r.status, 201, r.body)
        harness.wait_for(lambda: (self.node_on(self.b, "x1") or {}).get("state") == "ready", timeout=SYNC_S,
                         what="x1 ready on replica b")
        self.assertEqual(self.b.client(self.env.api_key, body=chat(model=CHAT2, max_tokens=2)).status, 200)

        self.assertEqual(self.a.admin("POST", "/nodes/x1/drain").status, 200)
        harness.wait_for(lambda: self.node_on(self.b, "x1")["state"] in ("draining", "drained"), timeout=SYNC_S,
                         what="x1 draining on replica b")
        r = self.b.client(self.env.api_key, body=chat(model=CHAT2, max_tokens=2))
        self.assertEqual(r.status, 503, r.body)

        self.assertEqual(self.a.admin("DELETE", "/nodes/x1").status, 200)
        harness.wait_for(lambda: self.node_on(self.b, "x1") is None, timeout=SYNC_S, what="x1 gone on replica b")

    def test_a_node_deleted_on_one_replica_is_not_brought_back_by_the_other(self):
        # B carries a stream on x1, so B keeps x1 draining after A drained it. A deletes x1, and
        # the stream ends at once: B's ticker marks x1 drained and persists that. Writing it with
        # an insert (as before) put x1 back in the store, and every replica then kept it.
        sim = self.env.procs.start("cic-node-sim", ["--listen", "127.0.0.1:0", "--model", f"{CHAT2}:chat",
                                                    "--inter-token-ms", "50"], name="slow")
        r = self.a.admin("POST", "/nodes", {"id": "x2", "region": "india", "provider": "test", "models": [CHAT2],
                                            "endpoint": f"http://127.0.0.1:{sim.ready['port']}"})
        self.assertEqual(r.status, 201, r.body)
        harness.wait_for(lambda: (self.node_on(self.b, "x2") or {}).get("state") == "ready", timeout=SYNC_S,
                         what="x2 ready on replica b")
        stream = StreamReader(self.b.port, "/v1/chat/completions",
                              chat(model=CHAT2, max_tokens=400, ignore_eos=True, stream=True),
                              {"Authorization": f"Bearer {self.env.api_key}", "Content-Type": "application/json"})
        try:
            self.assertEqual(stream.status, 200)
            self.assertIsNotNone(stream.next_event())
            self.assertEqual(self.a.admin("POST", "/nodes/x2/drain").status, 200)
            harness.wait_for(lambda: self.node_on(self.b, "x2")["state"] == "draining", timeout=SYNC_S,
                             what="x2 draining on replica b")
            self.assertEqual(self.a.admin("DELETE", "/nodes/x2").status, 200)
        finally:
            stream.close()  # B's request ends: B's ticker turns x2 drained within 250 ms
        harness.wait_for(lambda: self.node_on(self.b, "x2") is None, timeout=SYNC_S, what="x2 gone on replica b")
        time.sleep(4.5)  # two more sync rounds of both replicas
        self.assertIsNone(self.node_on(self.b, "x2"))
        self.assertIsNone(self.node_on(self.a, "x2"))
        self.assertEqual(self.db.query("SELECT count(*) FROM nodes WHERE id = 'x2'").strip(), "0")

    def test_heartbeats_sent_to_one_replica_keep_the_agent_alive_on_both(self):
        sim = self.env.procs.start("cic-node-sim", ["--listen", "127.0.0.1:0", "--model", f"{CHAT2}:chat"], name="agent")
        r = self.a.admin("POST", "/nodes", {"id": "ag1", "region": "india", "provider": "test", "models": [CHAT2]})
        self.assertEqual(r.status, 201, r.body)
        token = r.json()["registration_token"]
        r = self.a.admin("POST", "/nodes/register", {"endpoint": f"http://127.0.0.1:{sim.ready['port']}"}, token=token)
        self.assertEqual(r.status, 200, r.body)
        harness.wait_for(lambda: (self.node_on(self.b, "ag1") or {}).get("state") == "ready", timeout=SYNC_S,
                         what="ag1 ready on replica b")
        # Heartbeats only to A, for three heartbeat timeouts.
        deadline = time.monotonic() + 9
        while time.monotonic() < deadline:
            self.assertEqual(self.a.admin("POST", "/nodes/ag1/heartbeat", token=token).status, 200)
            self.assertEqual(self.node_on(self.b, "ag1")["state"], "ready")
            time.sleep(0.5)
        # Silence: both replicas declare it dead.
        for replica in (self.a, self.b):
            harness.wait_for(lambda: self.node_on(replica, "ag1")["state"] == "dead", timeout=SYNC_S + 3,
                             what="ag1 dead")


if __name__ == "__main__":
    unittest.main()
