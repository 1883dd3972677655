"""Two cic-control replicas on one PostgreSQL database share the node table: a node added,
drained or deleted through one is followed by the other within a few seconds, and an agent whose
heartbeats reach only one replica stays alive on both."""
import time
import unittest

import harness
from admin_fixture import NO_POSTGRES, POSTGRES_DSN, AdminEnv, PgDatabase
from gateway_fixture import CHAT2, chat

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
