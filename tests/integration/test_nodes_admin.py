"""The node registry's admin API (/admin/v1/nodes) against the real binaries: operators add nodes
(probed, then routed to), list, drain, evict and delete them; node agents register with their
one-time token and send heartbeats; nodes survive a restart; metrics and the audit log follow.

Each test owns a catalog model (nodes_fixture.NODE_MODELS) that no other node serves, so traffic
for it can only reach the nodes that test added."""
import json
import threading
import time
import unittest

import harness
from admin_fixture import AdminTestCase
from gateway_fixture import CHAT, StreamReader, chat
from nodes_fixture import NODE_MODELS, NodesEnv, metric_values, metrics

M_ADD, M_LIST, M_VALID, M_AGENT, M_DRAIN, M_DELETE, M_METRICS, M_READY, M_EVICT, M_AUDIT = NODE_MODELS[:10]
M_PERSIST_A, M_PERSIST_B = NODE_MODELS[10:12]

STABLE_FIELDS = {"id", "provider", "region", "instance_type", "models", "endpoint", "spot", "price_per_hour",
                 "capacity_tokens_per_sec", "state", "source", "created_at", "updated_at", "last_heartbeat_at",
                 "eviction_deadline", "health"}


class NodesTestCase(AdminTestCase):
    ENV = None  # each subclass says how its nodes environment is built

    # -- helpers -------------------------------------------------------------------------------
    def create(self, model, **fields):
        body = {"provider": "aws", "region": "india", "instance_type": "g5.xlarge", "models": [model], "spot": False,
                "price_per_hour": 1.01, "capacity_tokens_per_sec": 1000}
        body.update(fields)
        r = self.admin("POST", "/nodes", body)
        self.assertEqual(r.status, 201, r.body)
        return r.json()

    def node(self, node_id):
        r = self.admin("GET", f"/nodes/{node_id}")
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def wait_state(self, node_id, state, timeout=5, heartbeat_token=None):
        """Polls GET /nodes/{id} until its state is `state`; sends heartbeats meanwhile if asked."""
        last = {}

        def check():
            if heartbeat_token:
                hb = self.heartbeat(node_id, heartbeat_token)
                self.assertEqual(hb.status, 200, hb.body)
            last["view"] = self.node(node_id)
            return last["view"] if last["view"]["state"] == state else None

        try:
            return harness.wait_for(check, timeout=timeout, interval=0.05, what=f"node {node_id} to be {state}")
        except TimeoutError as e:
            raise AssertionError(f"{e}; last view: {json.dumps(last.get('view'))}") from None

    def use(self, model, **extra):
        return self.env.main.client(self.env.api_key, body=chat(model=model, max_tokens=2, **extra))

    def assertNoCapacity(self, r):
        self.assertError(r, 503, "no_capacity")
        retry_after = r.header("retry-after")
        self.assertIsNotNone(retry_after, "a 503 no_capacity carries Retry-After")
        self.assertGreaterEqual(int(retry_after), 1)

    def sim_stats(self, proc):
        r = harness.request(proc.ready["port"], "GET", "/sim/stats")
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def sim_config(self, proc, **values):
        r = harness.request(proc.ready["port"], "POST", "/sim/config", body=values)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def sim_saw(self, proc, request_id):
        r = harness.request(proc.ready["port"], "GET", f"/sim/requests/{request_id}")
        return r.status == 200

    def assertServedBy(self, r, node_id, proc):
        """A 200 answered by `node_id` (usage row) running on the sim `proc` (the sim saw it)."""
        self.assertEqual(r.status, 200, r.body)
        rid = r.header("x-request-id")
        self.assertTrue(self.sim_saw(proc, rid), f"request {rid} did not reach the node's sim")
        row = self.env.wait_usage(rid)[0]
        self.assertEqual(row["node_id"], node_id, row)

    def register(self, token, body):
        return self.admin("POST", "/nodes/register", body, token=token)

    def heartbeat(self, node_id, token):
        return self.admin("POST", f"/nodes/{node_id}/heartbeat", {}, token=token)

    def audit(self, action, target_id=None):
        r = self.admin("GET", f"/audit?action={action}&limit=100")
        self.assertEqual(r.status, 200, r.body)
        return [e for e in r.json()["data"] if target_id is None or e["target_id"] == target_id]


class NodesAdminTest(NodesTestCase):
    """One cic-control (loopback endpoints allowed, fast probes, 1.5 s heartbeat timeout) with two
    config nodes serving CHAT, one in india and one in apac."""

    ENV = NodesEnv
    NODES = (("cfg-india", CHAT), ("cfg-apac", CHAT))

    @classmethod
    def start_env(cls, env):
        env.node_regions["cfg-apac"] = "apac"
        super().start_env(env)

    # -- 1. add with an endpoint -----------------------------------------------------------------
    def test_add_node_with_endpoint_becomes_ready_and_serves(self):
        self.assertNoCapacity(self.use(M_ADD))  # nobody serves the model yet
        sim, url = self.env.start_sim("sim-add", M_ADD)
        r = self.admin("POST", "/nodes", {"id": "add-1", "provider": "aws", "region": "india",
                                          "instance_type": "g5.xlarge", "models": [M_ADD], "endpoint": url + "/",
                                          "spot": True, "price_per_hour": 1.25, "capacity_tokens_per_sec": 2500})
        self.assertEqual(r.status, 201, r.body)
        created = r.json()
        self.assertTrue(STABLE_FIELDS <= set(created), set(created) ^ STABLE_FIELDS)
        self.assertEqual(created["id"], "add-1")
        self.assertEqual(created["object"], "node")
        self.assertEqual((created["provider"], created["region"], created["instance_type"]), ("aws", "india", "g5.xlarge"))
        self.assertEqual(created["models"], [M_ADD])
        self.assertEqual(created["endpoint"], url, "trailing slash removed")
        self.assertIs(created["spot"], True)
        self.assertAlmostEqual(created["price_per_hour"], 1.25)
        self.assertEqual(created["capacity_tokens_per_sec"], 2500)
        self.assertEqual(created["state"], "launching", "a new node starts launching")
        self.assertEqual(created["source"], "admin")
        self.assertAlmostEqual(created["created_at"], time.time(), delta=30)
        self.assertIsNone(created["last_heartbeat_at"])
        self.assertIsNone(created["eviction_deadline"])
        token = created["registration_token"]
        self.assertTrue(token.startswith("cicn_"), token)
        self.assertGreaterEqual(len(token), 5 + 32)

        # Shown once: GET, the list and the audit log never show it.
        view = self.node("add-1")
        self.assertNotIn("registration_token", view)
        listing = self.admin("GET", "/nodes")
        self.assertNotIn(token, listing.body.decode())
        self.assertNotIn("registration_token", listing.body.decode())
        self.assertNotIn(token, self.admin("GET", "/audit?action=node.create&limit=100").body.decode())

        ready = self.wait_state("add-1", "ready", timeout=5)
        self.assertTrue(ready["health"]["healthy"], ready)
        self.assertIsNone(ready["health"]["last_error"])
        self.assertGreaterEqual(self.sim_stats(sim)["requests_total"], 1, "readiness ran a one-token inference")

        before = self.sim_stats(sim)["requests_total"]
        for _ in range(3):
            self.assertServedBy(self.use(M_ADD), "add-1", sim)
        self.assertEqual(self.sim_stats(sim)["requests_total"], before + 3)
        # The secret stays out of logs and of the database (only its HMAC is stored).
        self.assertEqual(self.env.token_leaks(token), [])

    def test_node_stays_launching_until_readiness_passes(self):
        sim, url = self.env.start_sim("sim-ready", M_READY)
        self.sim_config(sim, error_rate=1.0)  # /health answers, inference fails
        self.create(M_READY, id="ready-1", endpoint=url)
        failed = harness.wait_for(lambda: (v := self.node("ready-1"))["health"]["last_error"] and v, timeout=5,
                                  what="a failed readiness probe")
        self.assertEqual(failed["state"], "launching", failed)
        self.assertFalse(failed["health"]["healthy"], failed)
        self.assertNoCapacity(self.use(M_READY))
        self.assertEqual(self.sim_stats(sim)["requests_total"], self.sim_stats(sim)["requests_failed"],
                         "only probes reached the sim")
        self.sim_config(sim, error_rate=0.0)
        self.wait_state("ready-1", "ready", timeout=5)
        self.assertServedBy(self.use(M_READY), "ready-1", sim)

    # -- 2. list / get / 404 ---------------------------------------------------------------------
    def test_list_filters_get_and_404(self):
        a = self.create(M_LIST, id="list-india", provider="gcp", instance_type="a2-highgpu-1g")
        b = self.create(M_LIST, id="list-apac", region="apac", spot=True, price_per_hour=0.35)
        generated = self.create(M_LIST, region="apac")
        del generated["registration_token"]
        self.assertTrue(generated["id"].startswith("node_"), generated["id"])
        self.assertIsNone(a["endpoint"])

        r = self.admin("GET", "/nodes")
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["object"], "list")
        self.assertIsInstance(body["data"], list)
        ids = {n["id"] for n in body["data"]}
        self.assertTrue({"cfg-india", "cfg-apac", "list-india", "list-apac", generated["id"]} <= ids, ids)
        for n in body["data"]:
            self.assertTrue(STABLE_FIELDS <= set(n), (n["id"], STABLE_FIELDS - set(n)))
            self.assertNotIn("registration_token", n)
            self.assertIn(n["state"], ("launching", "ready", "draining", "drained", "dead"))
            self.assertIn(n["source"], ("config", "admin", "agent"))
            self.assertIsInstance(n["health"]["healthy"], bool)
            self.assertIn("score", n["health"])
        cfg = next(n for n in body["data"] if n["id"] == "cfg-apac")
        self.assertEqual((cfg["source"], cfg["region"], cfg["models"]), ("config", "apac", [CHAT]))

        def listed(query):
            r = self.admin("GET", "/nodes?" + query)
            self.assertEqual(r.status, 200, r.body)
            return {n["id"] for n in r.json()["data"]}

        self.assertEqual(listed(f"model={M_LIST}"), {"list-india", "list-apac", generated["id"]})
        self.assertEqual(listed(f"model={M_LIST}&region=apac"), {"list-apac", generated["id"]})
        self.assertEqual(listed(f"model={M_LIST}&region=india"), {"list-india"})
        self.assertEqual(listed(f"model={M_LIST}&state=launching"), {"list-india", "list-apac", generated["id"]})
        self.assertEqual(listed(f"model={M_LIST}&state=ready"), set())
        self.assertIn("cfg-apac", listed("region=apac"))
        self.assertNotIn("cfg-india", listed("region=apac"))
        self.assertTrue({"cfg-india", "cfg-apac"} <= listed(f"model={CHAT}&state=ready"))
        self.assertEqual(listed("model=no-such-model"), set())

        one = self.node("list-apac")
        for field in ("id", "provider", "region", "instance_type", "models", "spot", "capacity_tokens_per_sec",
                      "created_at", "source"):
            self.assertEqual(one[field], b[field], field)
        self.assertAlmostEqual(one["price_per_hour"], 0.35)
        self.assertIsNone(one["endpoint"])
        self.assertEqual(one["state"], "launching", "no endpoint: waits for its agent")
        self.assertEqual(self.node("list-india")["provider"], "gcp")

        for method, path in (("GET", "/nodes/no-such-node"), ("DELETE", "/nodes/no-such-node"),
                             ("POST", "/nodes/no-such-node/drain"), ("POST", "/nodes/no-such-node/eviction")):
            self.assertError(self.admin(method, path, {} if method == "POST" else None), 404)

        # Only the operator: no credential -> 401, an org admin key -> 403.
        self.assertEqual(self.admin("GET", "/nodes", auth=False).status, 401)
        self.assertEqual(self.admin("GET", "/nodes", token="op-wrong-token-000000000000000000").status, 401)
        self.env.create_org("nodes-org")
        org_admin = self.env.create_admin_key("nodes-org")["key"]
        self.assertError(self.admin("GET", "/nodes", token=org_admin), 403)
        self.assertError(self.admin("POST", "/nodes", {"provider": "aws", "region": "india", "models": [M_LIST]},
                                    token=org_admin), 403)

    # -- 3. validation ---------------------------------------------------------------------------
    def test_validation_errors(self):
        base = {"provider": "aws", "region": "india", "models": [M_VALID]}
        cases = [
            ({"region": "mars"}, "region"),
            ({"region": None}, "region"),
            ({"models": ["no-such-model"]}, "models"),
            ({"models": None}, "models"),
            ({"models": []}, "models"),
            ({"models": M_VALID}, "models"),
            ({"models": [M_VALID, 7]}, "models"),
            ({"id": "bad id"}, "id"),
            ({"id": "register"}, "id"),
            ({"id": "x" * 65}, "id"),
            ({"id": "a/b"}, "id"),
            ({"id": ""}, "id"),
            ({"provider": ""}, "provider"),
            ({"spot": "yes"}, "spot"),
            ({"price_per_hour": -1}, "price_per_hour"),
            ({"price_per_hour": "1.0"}, "price_per_hour"),
            ({"capacity_tokens_per_sec": -5}, "capacity_tokens_per_sec"),
            ({"gpu_count": 8}, "gpu_count"),
        ]
        for change, param in cases:
            body = dict(base)
            for k, v in change.items():
                if v is None:
                    body.pop(k, None)
                else:
                    body[k] = v
            with self.subTest(change=change):
                self.assertError(self.admin("POST", "/nodes", body), 400, param=param)
        self.assertError(self.admin("POST", "/nodes", "{not json"), 400)
        self.assertError(self.admin("POST", "/nodes", [1, 2]), 400)

        self.create(M_VALID, id="valid-1")
        self.assertError(self.admin("POST", "/nodes", dict(base, id="valid-1")), 409, "node_exists")
        self.assertError(self.admin("POST", "/nodes", dict(base, id="cfg-india")), 409, "node_exists")
        r = self.admin("GET", f"/nodes?model={M_VALID}")
        self.assertEqual([n["id"] for n in r.json()["data"]], ["valid-1"], "refused creates left nothing behind")
        self.assertEqual(len(self.audit("node.create", "valid-1")), 1)
        self.assertEqual(self.node("cfg-india")["source"], "config", "the config node is untouched")

    def test_endpoint_policy_with_loopback_allowed(self):
        # Loopback is allowed in this env; metadata, private, other schemes and userinfo are not.
        for endpoint in ("http://169.254.169.254/", "http://169.254.169.254/latest/meta-data", "http://10.0.0.1:8000",
                         "http://192.168.1.10:8000", "ftp://x", "http://user@host:80", "http://user:pw@127.0.0.1:80",
                         "file:///etc/passwd", "not a url"):
            with self.subTest(endpoint=endpoint):
                self.assertError(self.admin("POST", "/nodes", {"provider": "aws", "region": "india",
                                                               "models": [M_VALID], "endpoint": endpoint}),
                                 400, param="endpoint")
        r = self.admin("GET", f"/nodes?model={M_VALID}")
        self.assertNotIn("169.254", r.body.decode())

    # -- 4. node agent ---------------------------------------------------------------------------
    def test_agent_register_heartbeat_dead_and_back(self):
        sim, url = self.env.start_sim("sim-agent", M_AGENT)
        created = self.create(M_AGENT, id="agent-1")
        token = created["registration_token"]
        self.assertEqual(created["state"], "launching")
        self.assertIsNone(created["endpoint"])
        self.assertNoCapacity(self.use(M_AGENT))

        # Misuse of credentials first.
        self.assertError(self.register("cicn_" + "0" * 48, {"endpoint": url}), 401)
        self.assertError(self.register(None, {"endpoint": url}), 403)  # operator token
        self.assertError(self.admin("POST", "/nodes/agent-1/heartbeat", {}), 403)  # operator token
        for method, path in (("GET", "/nodes"), ("GET", "/nodes/agent-1"), ("POST", "/nodes/agent-1/drain"),
                             ("DELETE", "/nodes/agent-1"), ("POST", "/nodes"), ("GET", "/orgs"), ("GET", "/audit")):
            with self.subTest(method=method, path=path):
                self.assertError(self.admin(method, path, {} if method == "POST" else None, token=token), 403,
                                 "node_token_scope")
        hb = self.heartbeat("cfg-india", token)  # another node's id
        self.assertError(hb, 401, "invalid_node_token")
        hb = self.heartbeat("agent-1", "cicn_" + "1" * 48)
        self.assertError(hb, 401, "invalid_node_token")
        self.assertError(self.register(token, {}), 400, param="endpoint")
        self.assertError(self.register(token, {"endpoint": url, "models": ["no-such-model"]}), 400, param="models")
        self.assertError(self.register(token, {"endpoint": "http://169.254.169.254/"}), 400, param="endpoint")
        self.assertEqual(self.node("agent-1")["state"], "launching", "misuse changed nothing")
        self.assertIsNone(self.node("agent-1")["endpoint"])

        r = self.register(token, {"endpoint": url})
        self.assertEqual(r.status, 200, r.body)
        reg = r.json()
        self.assertEqual((reg["id"], reg["endpoint"], reg["source"]), ("agent-1", url, "agent"))
        self.assertEqual(reg["heartbeat_timeout_ms"], 1500)
        self.assertGreaterEqual(reg["heartbeat_interval_ms"], 1000)
        self.assertNotIn("registration_token", reg)
        self.wait_state("agent-1", "ready", heartbeat_token=token)
        hb = self.heartbeat("agent-1", token)
        self.assertEqual(hb.status, 200, hb.body)
        self.assertEqual(hb.json()["state"], "ready")
        self.assertIsNotNone(self.node("agent-1")["last_heartbeat_at"])
        self.assertServedBy(self.use(M_AGENT), "agent-1", sim)
        self.assertEqual(len(self.audit("node.register", "agent-1")), 1)
        self.assertEqual(self.audit("node.register", "agent-1")[0]["actor"], "node_agent")

        # Silence: dead after the 1.5 s timeout, not before; then no traffic reaches it.
        self.assertEqual(self.heartbeat("agent-1", token).status, 200)
        silent_since = time.monotonic()
        dead = self.wait_state("agent-1", "dead", timeout=6)
        self.assertGreaterEqual(time.monotonic() - silent_since, 1.4, "declared dead before the 1.5 s heartbeat timeout")
        self.assertFalse(dead["health"]["healthy"], dead)
        before = self.sim_stats(sim)["requests_total"]
        self.assertNoCapacity(self.use(M_AGENT))
        self.assertEqual(self.sim_stats(sim)["requests_total"], before, "nothing routed to a dead node")
        self.assertError(self.heartbeat("agent-1", token), 409, "node_dead")
        self.assertEqual(self.node("agent-1")["state"], "dead", "a heartbeat does not revive a dead node")

        # Registering again starts over: launching, then ready, then serving.
        r = self.register(token, {"endpoint": url})
        self.assertEqual(r.status, 200, r.body)
        self.assertIn(r.json()["state"], ("launching", "ready"))
        self.wait_state("agent-1", "ready", heartbeat_token=token)
        self.assertServedBy(self.use(M_AGENT), "agent-1", sim)
        self.assertEqual(self.env.token_leaks(token), [])

    # -- 5. drain and eviction -------------------------------------------------------------------
    def test_drain_waits_for_in_flight_then_no_capacity(self):
        sim, url = self.env.start_sim("sim-drain", M_DRAIN, "--inter-token-ms", "25")
        self.create(M_DRAIN, id="drain-1", endpoint=url)
        self.wait_state("drain-1", "ready")
        stream = StreamReader(self.env.main.port, "/v1/chat/completions",
                              chat(model=M_DRAIN, max_tokens=40, ignore_eos=True, stream=True),
                              self.env.auth())
        try:
            self.assertEqual(stream.status, 200)
            self.assertIsNotNone(stream.next_event())
            self.assertEqual(self.node("drain-1")["health"]["in_flight"], 1)
            r = self.admin("POST", "/nodes/drain-1/drain", {})
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["state"], "draining")
            # New requests are refused at once while the old one finishes.
            self.assertNoCapacity(self.use(M_DRAIN))
            self.assertEqual(self.node("drain-1")["state"], "draining", "a request is still in flight")
            events = [e for _, e in stream.all_events()]
        finally:
            stream.close()
        self.assertEqual(events[-1], "[DONE]", "the in-flight stream finished normally")
        tokens = sum(1 for e in events[:-1] if json.loads(e)["choices"] and json.loads(e)["choices"][0]["delta"].get("content"))
        self.assertEqual(tokens, 40)
        drained = self.wait_state("drain-1", "drained", timeout=3)
        self.assertEqual(drained["health"]["in_flight"], 0)
        before = self.sim_stats(sim)["requests_total"]
        self.assertNoCapacity(self.use(M_DRAIN))
        self.assertEqual(self.sim_stats(sim)["requests_total"], before)
        r = self.admin("POST", "/nodes/drain-1/drain", {})  # idempotent
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["state"], "drained")
        self.assertError(self.admin("POST", "/nodes/drain-1/drain", {"now": True}), 400)
        self.assertError(self.admin("GET", "/nodes/drain-1/drain"), 405)

    def test_eviction_deadline_cuts_hung_request(self):
        sim, url = self.env.start_sim("sim-evict", M_EVICT)
        self.create(M_EVICT, id="evict-1", endpoint=url, spot=True)
        self.wait_state("evict-1", "ready")
        for body, param in (({"seconds": -1}, "seconds"), ({"seconds": 86401}, "seconds"), ({"deadline": "soon"}, "deadline"),
                            ({"minutes": 1}, "minutes")):
            self.assertError(self.admin("POST", "/nodes/evict-1/eviction", body), 400, param=param)
        self.assertEqual(self.node("evict-1")["state"], "ready", "refused notices changed nothing")

        self.sim_config(sim, hang=True)
        result = {}

        def hung():
            try:
                result["r"] = self.use(M_EVICT)
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e
            result["at"] = time.monotonic()

        thread = threading.Thread(target=hung, daemon=True)
        thread.start()
        harness.wait_for(lambda: self.node("evict-1")["health"]["in_flight"] == 1, timeout=5, what="request in flight")
        noticed = time.monotonic()
        r = self.admin("POST", "/nodes/evict-1/eviction", {"seconds": 1})
        self.assertEqual(r.status, 200, r.body)
        view = r.json()
        self.assertEqual(view["state"], "draining")
        self.assertAlmostEqual(view["eviction_deadline"], time.time() + 1, delta=2)
        self.assertNoCapacity(self.use(M_EVICT))
        self.wait_state("evict-1", "drained", timeout=5)
        self.assertGreaterEqual(time.monotonic() - noticed, 0.8, "drained before the eviction deadline")
        thread.join(timeout=10)
        self.assertFalse(thread.is_alive(), "the hung request was not cut at the eviction deadline")
        self.assertNotIn("error", result, result)
        self.assertGreaterEqual(result["r"].status, 500, result["r"].body)
        self.assertLess(result["at"] - noticed, 5)
        self.sim_config(sim, hang=False)
        self.assertNoCapacity(self.use(M_EVICT))
        self.assertIsNone(self.node("evict-1")["eviction_deadline"])

    # -- 6. delete -------------------------------------------------------------------------------
    def test_delete_added_node_and_config_node_refused(self):
        sim, url = self.env.start_sim("sim-delete", M_DELETE)
        self.create(M_DELETE, id="delete-1", endpoint=url)
        self.wait_state("delete-1", "ready")
        self.assertServedBy(self.use(M_DELETE), "delete-1", sim)

        r = self.admin("DELETE", "/nodes/delete-1")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"id": "delete-1", "object": "node", "deleted": True})
        self.assertError(self.admin("GET", "/nodes/delete-1"), 404)
        ids = {n["id"] for n in self.admin("GET", "/nodes").json()["data"]}
        self.assertNotIn("delete-1", ids)
        before = self.sim_stats(sim)["requests_total"]
        self.assertNoCapacity(self.use(M_DELETE))
        self.assertEqual(self.sim_stats(sim)["requests_total"], before)
        self.assertError(self.admin("DELETE", "/nodes/delete-1"), 404)
        # The id is free again.
        self.create(M_DELETE, id="delete-1", endpoint=url)
        self.wait_state("delete-1", "ready")
        self.assertServedBy(self.use(M_DELETE), "delete-1", sim)

        self.assertError(self.admin("DELETE", "/nodes/cfg-india"), 409, "node_in_config")
        self.assertEqual(self.node("cfg-india")["state"], "ready")
        self.assertEqual(self.use(CHAT).status, 200)

    # -- 8. metrics ------------------------------------------------------------------------------
    def test_node_metrics_on_admin_port(self):
        sim, url = self.env.start_sim("sim-metrics", M_METRICS)
        self.create(M_METRICS, id="metrics-india", endpoint=url)
        self.create(M_METRICS, id="metrics-apac", region="apac")  # no endpoint: launching, down
        self.wait_state("metrics-india", "ready")
        self.assertServedBy(self.use(M_METRICS), "metrics-india", sim)

        s = metrics(self.env)
        self.assertEqual(metric_values(s, "cic_node_up", node="metrics-india", region="india"), [1.0])
        self.assertEqual(metric_values(s, "cic_node_up", node="metrics-apac", region="apac"), [0.0])
        self.assertEqual(metric_values(s, "cic_node_up", node="cfg-apac", region="apac"), [1.0])
        self.assertEqual(metric_values(s, "cic_node_state", node="metrics-india", region="india", state="ready"), [1.0])
        self.assertEqual(metric_values(s, "cic_node_state", node="metrics-india", region="india", state="launching"), [0.0])
        self.assertEqual(metric_values(s, "cic_node_state", node="metrics-apac", region="apac", state="launching"), [1.0])
        states = {l["state"] for n, l, _ in s if n == "cic_node_state" and l.get("node") == "metrics-india"}
        self.assertEqual(states, {"launching", "ready", "draining", "drained", "dead"})
        score = metric_values(s, "cic_node_health_score", node="metrics-india", region="india")
        self.assertEqual(len(score), 1, score)
        self.assertTrue(0.0 < score[0] <= 1.0, score)
        upstream = [(l, v) for n, l, v in s if n == "cic_upstream_requests_total" and l.get("node") == "metrics-india"]
        self.assertTrue(upstream, "cic_upstream_requests_total has a series for the node")
        self.assertTrue(all(l.get("region") == "india" for l, _ in upstream), upstream)
        self.assertGreaterEqual(sum(v for _, v in upstream), 1)

        # A drained node is down; a deleted node's series are gone.
        self.assertEqual(self.admin("POST", "/nodes/metrics-india/drain", {}).status, 200)
        self.wait_state("metrics-india", "drained")
        self.assertEqual(self.admin("DELETE", "/nodes/metrics-apac").status, 200)
        s = metrics(self.env)
        self.assertEqual(metric_values(s, "cic_node_up", node="metrics-india", region="india"), [0.0])
        self.assertEqual(metric_values(s, "cic_node_state", node="metrics-india", region="india", state="drained"), [1.0])
        self.assertEqual(metric_values(s, "cic_node_up", node="metrics-apac"), [])
        self.assertEqual(metric_values(s, "cic_node_state", node="metrics-apac"), [])

    # -- 9. audit --------------------------------------------------------------------------------
    def test_audit_records_create_drain_delete(self):
        created = self.create(M_AUDIT, id="audit-1", region="apac")
        token = created["registration_token"]
        self.assertEqual(self.admin("POST", "/nodes/audit-1/drain", {}).status, 200)
        self.wait_state("audit-1", "drained")
        self.assertEqual(self.admin("DELETE", "/nodes/audit-1").status, 200)

        creates = self.audit("node.create", "audit-1")
        self.assertEqual(len(creates), 1, creates)
        c = creates[0]
        self.assertEqual((c["actor"], c["target_type"], c["target_id"]), ("operator", "node", "audit-1"))
        self.assertIsNone(c["before"])
        self.assertEqual((c["after"]["region"], c["after"]["state"], c["after"]["models"]), ("apac", "launching", [M_AUDIT]))
        drains = self.audit("node.drain", "audit-1")
        self.assertEqual(len(drains), 1, drains)
        self.assertEqual(drains[0]["actor"], "operator")
        self.assertEqual((drains[0]["before"]["state"], drains[0]["after"]["state"]), ("launching", "draining"))
        deletes = self.audit("node.delete", "audit-1")
        self.assertEqual(len(deletes), 1, deletes)
        self.assertEqual(deletes[0]["actor"], "operator")
        self.assertEqual(deletes[0]["before"]["id"], "audit-1")
        self.assertIsNone(deletes[0]["after"])
        self.assertLessEqual(c["at_ms"], drains[0]["at_ms"])
        self.assertLessEqual(drains[0]["at_ms"], deletes[0]["at_ms"])
        everything = self.admin("GET", "/audit?limit=100").body.decode()
        self.assertNotIn(token, everything)
        # A refused change writes nothing.
        self.assertEqual(self.admin("DELETE", "/nodes/cfg-apac").status, 409)
        self.assertEqual(self.audit("node.delete", "cfg-apac"), [])


class NodesEndpointPolicyTest(NodesTestCase):
    """Default endpoint policy: loopback (and private) endpoints are refused, over the operator's
    create and the agent's register alike."""

    NODES = (("cfg-india", CHAT),)

    @classmethod
    def make_env(cls):
        return NodesEnv(allow_loopback=False)

    REFUSED = ("http://169.254.169.254/", "http://127.0.0.1:1", "http://127.0.0.1:8000/v1", "http://localhost:8000",
               "http://[::1]:80", "http://[::ffff:127.0.0.1]:80", "http://10.0.0.1:8000", "http://172.16.0.5:8000",
               "http://192.168.0.1", "ftp://x", "http://user@host:80", "gopher://127.0.0.1:70")

    def test_refused_endpoints_on_create(self):
        for endpoint in self.REFUSED:
            with self.subTest(endpoint=endpoint):
                err = self.assertError(self.admin("POST", "/nodes", {"provider": "aws", "region": "india",
                                                                     "models": [M_VALID], "endpoint": endpoint}),
                                       400, param="endpoint")
                self.assertEqual(err["type"], "invalid_request_error")
        self.assertEqual(self.admin("GET", f"/nodes?model={M_VALID}").json()["data"], [])
        self.assertEqual([e for e in self.audit("node.create") if M_VALID in (e["after"] or {}).get("models", [])], [],
                         "refused creates write no audit record")

    def test_refused_endpoints_on_register(self):
        sim, url = self.env.start_sim("sim-policy", M_AGENT)
        token = self.create(M_AGENT, id="policy-agent")["registration_token"]
        for endpoint in (url, "http://127.0.0.1:1", "http://[::1]:80", "http://169.254.169.254/", "http://10.0.0.1:8000"):
            with self.subTest(endpoint=endpoint):
                self.assertError(self.register(token, {"endpoint": endpoint}), 400, param="endpoint")
        view = self.node("policy-agent")
        self.assertIsNone(view["endpoint"])
        self.assertEqual(view["state"], "launching")
        self.assertEqual(self.sim_stats(sim)["requests_total"], 0, "a refused endpoint is never probed")


class NodesPersistenceTest(NodesTestCase):
    """Nodes added over the API are stored: a restarted cic-control knows them again."""

    def setUp(self):
        self.env = NodesEnv()
        self.addCleanup(self.env.stop)
        self.env.start_node("cfg-india", CHAT)
        self.env.start_gateway()

    def test_nodes_survive_restart(self):
        sim_a, url_a = self.env.start_sim("sim-persist-a", M_PERSIST_A)
        sim_b, url_b = self.env.start_sim("sim-persist-b", M_PERSIST_B)
        a = self.create(M_PERSIST_A, id="persist-a", region="apac", endpoint=url_a, spot=True, price_per_hour=0.5,
                        capacity_tokens_per_sec=1234, instance_type="g6.xlarge", provider="gcp")
        b = self.create(M_PERSIST_B, id="persist-b", endpoint=url_b)
        self.create(M_PERSIST_B, id="persist-gone")
        self.wait_state("persist-a", "ready")
        self.wait_state("persist-b", "ready")
        self.assertServedBy(self.use(M_PERSIST_A), "persist-a", sim_a)  # apac node, reached by fallback
        self.assertEqual(self.admin("POST", "/nodes/persist-b/drain", {}).status, 200)
        self.wait_state("persist-b", "drained")
        self.assertEqual(self.admin("DELETE", "/nodes/persist-gone").status, 200)

        _, rc = self.env.restart()
        self.assertEqual(rc, 0, "SIGTERM is a clean shutdown")

        ids = {n["id"] for n in self.admin("GET", "/nodes").json()["data"]}
        self.assertEqual(ids, {"cfg-india", "persist-a", "persist-b"})
        view = self.wait_state("persist-a", "ready", timeout=5)
        for field in ("provider", "region", "instance_type", "models", "endpoint", "spot", "price_per_hour",
                      "capacity_tokens_per_sec", "source", "created_at"):
            self.assertEqual(view[field], a[field], field)
        self.assertTrue(view["health"]["healthy"], view)
        self.assertServedBy(self.use(M_PERSIST_A), "persist-a", sim_a)

        # The drained node stays drained: not probed into ready, no traffic.
        self.assertEqual(self.node("persist-b")["state"], "drained")
        before = self.sim_stats(sim_b)["requests_total"]
        time.sleep(0.7)  # two probe rounds (interval 300 ms): nothing may bring it back
        view_b = self.node("persist-b")
        self.assertEqual(view_b["state"], "drained")
        self.assertEqual(view_b["endpoint"], b["endpoint"])
        self.assertNoCapacity(self.use(M_PERSIST_B))
        self.assertEqual(self.sim_stats(sim_b)["requests_total"], before)
        # Its registration token still works after the restart: registering brings it back.
        r = self.register(b["registration_token"], {"endpoint": url_b})
        self.assertEqual(r.status, 200, r.body)
        self.wait_state("persist-b", "ready", heartbeat_token=b["registration_token"])
        self.assertServedBy(self.use(M_PERSIST_B), "persist-b", sim_b)
        self.assertError(self.admin("DELETE", "/nodes/cfg-india"), 409, "node_in_config")


if __name__ == "__main__":
    unittest.main()
