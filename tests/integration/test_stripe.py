"""Stripe metered billing, Stripe webhooks and alerts, end to end.

cic-control runs with real cic-node-sim nodes, reports usage to tests/fakes/stripe_fake.py (our
stand-in for Stripe's meter event API, started here on a free port) and sends alerts to a local
HTTP receiver. The hour is "closed" for reporting by config: `stripe.report_open_hours: true` with
`close_delay_ms: 0` reports the running hour as it grows (each growth is another meter event with
the next identifier), so a test need not wait for the clock. Checked: the tokens Stripe holds equal
the tokens in the store, through lost answers (the fake commits, then closes the connection),
500s, 429s, a Stripe outage and three restarts (one with our acknowledgements erased); webhooks
with good and bad signatures; each alert delivered once, signed with HMAC-SHA256.
"""
import hashlib
import hmac
import json
import os
import secrets
import signal
import sqlite3
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness
from admin_fixture import NO_POSTGRES, POSTGRES_DSN, AdminEnv, PgDatabase
from gateway_fixture import CHAT, EMBED, MODELS_YAML, ORPHAN, chat

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from stripe_fake import StripeFake, sign_webhook  # noqa: E402

API_KEY = "sk_test_" + secrets.token_hex(12)
WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)
ALERTS_SECRET = "alerts-" + secrets.token_hex(16)
CUSTOMER = "cus_" + secrets.token_hex(7)

# $100 / $200 per 1M tokens: one small request costs well over the tiny budgets set below.
PRICED_MODELS_YAML = f"""
models:
  - {{id: {CHAT}, family: llama, kind: chat, context_length: 8192, price: {{input_per_million_usd: 100, output_per_million_usd: 200}}}}
  - {{id: {EMBED}, family: bge, kind: embedding, context_length: 512}}
  - {{id: {ORPHAN}, family: llama, kind: chat, context_length: 8192}}
"""


class AlertReceiver:
    """A local webhook receiver: keeps every POST; answers 500 to the first `fail_first`."""

    def __init__(self, fail_first=0):
        self.lock = threading.Lock()
        self.calls = []  # (status answered, headers, body bytes)
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = 500 if len(receiver.calls) < receiver.fail_first else 204
                    receiver.calls.append((status, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self):
        return self.server.server_address[1]

    def delivered(self):
        """Alerts answered 2xx: a list of (headers, parsed body)."""
        with self.lock:
            return [(h, json.loads(b)) for status, h, b in self.calls if status < 300]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class StripeEnv(AdminEnv):
    """AdminEnv with priced models, `stripe:` pointing at the fake and `alerts:` at the receiver."""

    def __init__(self, fake, receiver, **kwargs):
        super().__init__(**kwargs)
        self.fake = fake
        self.receiver = receiver

    def config_text(self, bootstrap=True, extra=""):
        # The usage log in the test's own directory (its default is relative to the working directory
        # with PostgreSQL), flushed often so that usage reaches the store, and Stripe, quickly.
        sections = f"""
billing:
  wal_dir: "{self.var}/usage-wal"
  flush_interval_ms: 100
stripe:
  api_key: "{API_KEY}"
  api_base: "{self.fake.url}"
  meter_event_name: cic_tokens
  report_interval_ms: 150
  webhook_secret: "{WEBHOOK_SECRET}"
  timeout_ms: 2000
  max_attempts: 3
  retry_backoff_base_ms: 10
  retry_backoff_max_ms: 50
  close_delay_ms: 0
  report_open_hours: true
alerts:
  webhook_url: "http://127.0.0.1:{self.receiver.port}/hooks/cic"
  webhook_secret: "{ALERTS_SECRET}"
  interval_ms: 200
  spike_min_usd: 0.0001
  max_attempts: 2
  retry_backoff_base_ms: 10
  retry_backoff_max_ms: 20
"""
        text = super().config_text(bootstrap=bootstrap, extra=extra + sections)
        assert MODELS_YAML in text
        return text.replace(MODELS_YAML, PRICED_MODELS_YAML)

    # -- the store, on either backend ----------------------------------------------------------
    def scalar(self, sql, pg_db=None):
        if self.backend == "postgres":
            out = pg_db.query(sql).strip()
            return int(out) if out else 0
        conn = sqlite3.connect(os.path.join(self.var, "cic.db"), timeout=10)
        try:
            row = conn.execute(sql).fetchone()
            return row[0] if row and row[0] is not None else 0
        finally:
            conn.close()

    def execute(self, sql):
        conn = sqlite3.connect(os.path.join(self.var, "cic.db"), timeout=10)
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()


def metric(replica, name, labels=""):
    r = harness.request(replica.admin_port, "GET", "/metrics")
    for line in r.body.decode().splitlines():
        if line.startswith(name + labels + " ") or (not labels and line.startswith(name + " ")):
            return float(line.split()[-1])
    return None


class StripeTestBase(unittest.TestCase):
    backend = "sqlite"
    pg = None

    def setUp(self):
        self.fake = StripeFake(API_KEY).start()
        self.addCleanup(self.fake.stop)
        self.receiver = AlertReceiver()
        self.addCleanup(self.receiver.stop)
        kwargs = {"backend": self.backend, "dsn": self.pg.dsn} if self.backend == "postgres" else {}
        self.env = StripeEnv(self.fake, self.receiver, **kwargs)
        self.addCleanup(self.env.stop)
        self.env.start_node("n1", CHAT)
        self.replica = self.env.start_replica()
        self.org_id = self.org("acme")["id"]

    def org(self, name):
        r = self.replica.admin("GET", f"/orgs/{name}")
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def map_customer(self, org="acme", customer=CUSTOMER):
        r = self.replica.admin("PUT", f"/orgs/{org}/stripe", {"customer_id": customer})
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def traffic(self, n=3):
        for _ in range(n):
            r = harness.request(self.replica.port, "POST", "/v1/chat/completions", body=chat(max_tokens=8),
                                headers={"Authorization": f"Bearer {self.env.api_key}"})
            self.assertEqual(r.status, 200, r.body)

    def scalar(self, sql):
        return self.env.scalar(sql, self.pg)

    def store_tokens(self):
        return self.scalar(f"SELECT SUM(prompt_tokens + completion_tokens) FROM usage_records "
                           f"WHERE org_id = '{self.org_id}'")

    def acked_tokens(self):
        return self.scalar(f"SELECT SUM(value) FROM stripe_meter_reports WHERE org_id = '{self.org_id}' "
                           f"AND status = 'acked'")

    def stripe_tokens(self):
        return self.fake.totals().get(CUSTOMER, {}).get("cic_tokens", 0)

    def wait_in_sync(self, at_least, timeout=60):
        """Until Stripe, our acknowledgements and the store agree on at least `at_least` tokens."""
        def check():
            store = self.store_tokens()
            return store >= at_least and self.stripe_tokens() == store and self.acked_tokens() == store
        try:
            harness.wait_for(check, timeout=timeout, interval=0.05, what="Stripe totals to match the store")
        except TimeoutError as e:
            raise AssertionError(f"{e}: store {self.store_tokens()}, Stripe {self.stripe_tokens()}, acked "
                                 f"{self.acked_tokens()}, fake {self.fake_counters()}") from None
        return self.store_tokens()

    def fake_counters(self):
        r = harness.request(self.fake.port, "GET", "/_fake/totals")
        return r.json()

    def restart(self):
        self.replica.proc.signal(signal.SIGTERM)
        self.assertEqual(self.replica.proc.wait(timeout=30), 0)
        self.replica = self.env.start_replica(name=f"cic-control-{len(self.env.replicas)}")


class StripeReportingTest(StripeTestBase):

    def test_usage_reaches_stripe_once_through_faults_outages_and_restarts(self):
        self.map_customer()
        self.traffic(3)
        total = self.wait_in_sync(1)

        # Answers lost after Stripe committed: the retry repeats identifier and idempotency key.
        self.fake.set_fault("drop_after_commit", count=3)
        self.traffic(3)
        total = self.wait_in_sync(total + 1)
        self.assertGreater(self.fake_counters()["idempotent_replays"] + self.fake_counters()["duplicates"], 0)

        # 500s and 429s: retried with backoff within a pass, or in the next one.
        self.fake.set_fault("status", count=5, status=500)
        self.traffic(2)
        total = self.wait_in_sync(total + 1)
        self.fake.set_fault("status", count=3, status=429, retry_after=0)
        self.traffic(2)
        total = self.wait_in_sync(total + 1)

        # Stripe down: nothing is acknowledged, nothing is lost.
        self.fake.set_fault("status", count=-1, status=503)
        before = self.fake_counters()["requests"]
        self.traffic(2)
        harness.wait_for(lambda: self.store_tokens() > total and self.fake_counters()["requests"] >= before + 6,
                         timeout=60, what="reporting attempts while Stripe is down")
        self.assertEqual(self.stripe_tokens(), total)
        self.assertEqual(self.acked_tokens(), total)
        self.assertGreaterEqual(self.scalar("SELECT COUNT(*) FROM stripe_meter_reports WHERE status = 'pending'"), 1)
        self.assertGreater(metric(self.replica, "cic_stripe_reports_total", '{outcome="failed"}'), 0)
        self.fake.set_fault("none")
        total = self.wait_in_sync(total + 1)

        # Replays: three restarts; before the second, our acknowledgements are erased, so every
        # report is sent again with its identifier — Stripe (the fake) must not count any twice.
        events_before = self.fake_counters()["events"]
        for i in range(3):
            self.replica.proc.signal(signal.SIGTERM)
            self.assertEqual(self.replica.proc.wait(timeout=30), 0)
            if i == 1:
                self.env.execute("UPDATE stripe_meter_reports SET status = 'pending', acked_at = NULL")
            self.replica = self.env.start_replica(name=f"cic-control-replay-{i}")
            self.traffic(1)
            total = self.wait_in_sync(total + 1)
        self.assertEqual(self.stripe_tokens(), self.store_tokens())
        # One new event per restart (its new tokens), none for what Stripe already had.
        reports = self.scalar("SELECT COUNT(*) FROM stripe_meter_reports")
        self.assertEqual(self.fake_counters()["events"], reports)
        self.assertGreaterEqual(self.fake_counters()["events"], events_before + 3)
        self.assertEqual(self.scalar("SELECT COUNT(*) FROM stripe_meter_reports WHERE status <> 'acked'"), 0)

        # Identifiers are the documented derivation, one sequence per (org, hour).
        with sqlite3.connect(os.path.join(self.env.var, "cic.db")) as conn:
            rows = conn.execute("SELECT identifier, hour_start, seq FROM stripe_meter_reports").fetchall()
        for identifier, hour_start, seq in rows:
            expected = f"cic-{self.org_id}-cic_tokens-{hour_start // 1000}" + (f"-{seq}" if seq > 1 else "")
            self.assertEqual(identifier, expected)
        self.assertEqual({e["identifier"] for e in harness.request(self.fake.port, "GET", "/_fake/events")
                          .json()["data"]}, {r[0] for r in rows})

        self.assertGreater(metric(self.replica, "cic_stripe_reports_total", '{outcome="accepted"}'), 0)
        self.assertEqual(metric(self.replica, "cic_stripe_report_lag_seconds"), 0)

    def test_unmapped_orgs_are_not_reported_and_mapping_is_operator_only(self):
        self.traffic(2)
        harness.wait_for(lambda: self.store_tokens() > 0, timeout=60, what="usage in the store")
        r = self.replica.admin("GET", "/orgs/acme/stripe")
        self.assertEqual(r.status, 404, r.body)

        admin_key = self.env.create_admin_key("acme")["key"]
        r = self.replica.admin("PUT", "/orgs/acme/stripe", {"customer_id": CUSTOMER}, token=admin_key)
        self.assertEqual(r.status, 403, r.body)
        for bad in ({"customer_id": "acme"}, {"customer_id": "cus_a b"}, {}, {"customer_id": CUSTOMER, "x": 1}):
            r = self.replica.admin("PUT", "/orgs/acme/stripe", bad)
            self.assertEqual(r.status, 400, (bad, r.body))
        r = self.replica.admin("PUT", "/orgs/nope/stripe", {"customer_id": CUSTOMER})
        self.assertEqual(r.status, 404, r.body)
        self.assertEqual(self.fake_counters()["requests"], 0)

        view = self.map_customer()
        self.assertEqual(view["customer_id"], CUSTOMER)
        self.assertEqual(view["org_id"], self.org_id)
        r = self.replica.admin("GET", "/orgs/acme/stripe", token=admin_key)  # org admins may read it
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["customer_id"], CUSTOMER)
        audit = self.replica.admin("GET", "/audit?action=org.stripe.set").json()["data"]
        self.assertEqual(len(audit), 1)
        # From the mapping's hour on, usage is reported (also what came earlier in that hour);
        # earlier hours never are.
        self.traffic(1)
        since_ms = view["created_at"] // 3600 * 3600 * 1000
        expected = lambda: self.scalar(f"SELECT SUM(prompt_tokens + completion_tokens) FROM usage_records "
                                       f"WHERE org_id = '{self.org_id}' AND created_at >= {since_ms}")
        harness.wait_for(lambda: expected() > 0 and self.stripe_tokens() == expected() == self.acked_tokens(),
                         timeout=60, what="the mapped hours to be reported")


class StripeWebhookAndAlertTest(StripeTestBase):

    def post_webhook(self, body, signature):
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return harness.request(self.replica.admin_port, "POST", "/webhooks/stripe", body=body, headers=headers)

    def event(self, type_, object_):
        return json.dumps({"id": "evt_" + secrets.token_hex(8), "object": "event", "type": type_,
                           "created": int(time.time()), "data": {"object": object_}})

    def test_webhook_signatures(self):
        body = self.event("invoice.paid", {"id": "in_1", "object": "invoice", "customer": CUSTOMER})
        r = self.post_webhook(body, sign_webhook(WEBHOOK_SECRET, body))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"received": True, "recorded": True, "duplicate": False})
        r = self.post_webhook(body, sign_webhook(WEBHOOK_SECRET, body))  # delivered again
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json()["duplicate"])
        self.assertEqual(self.scalar("SELECT COUNT(*) FROM stripe_events"), 1)

        other = self.event("invoice.finalized", {"id": "in_2", "customer": CUSTOMER})
        bad = [
            ("wrong secret", sign_webhook("whsec_" + "0" * 32, other)),
            ("stale", sign_webhook(WEBHOOK_SECRET, other, t=time.time() - 600)),
            ("other body", sign_webhook(WEBHOOK_SECRET, other + " ")),
            ("no v1", f"t={int(time.time())}"),
            ("missing", None),
        ]
        for name, signature in bad:
            r = self.post_webhook(other, signature)
            self.assertEqual(r.status, 400, (name, r.body))
            self.assertEqual(r.json()["error"]["code"], "invalid_signature", name)
        # An admin token is no substitute for the signature.
        r = harness.request(self.replica.admin_port, "POST", "/webhooks/stripe", body=other,
                            headers={"Authorization": f"Bearer {self.env.operator_token}"})
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(self.scalar("SELECT COUNT(*) FROM stripe_events"), 1)

        ignored = self.event("customer.subscription.updated", {"id": "sub_1", "customer": CUSTOMER})
        r = self.post_webhook(ignored, sign_webhook(WEBHOOK_SECRET, ignored))
        self.assertEqual(r.status, 200, r.body)
        self.assertFalse(r.json()["recorded"])
        self.assertEqual(self.scalar("SELECT COUNT(*) FROM stripe_events"), 1)
        self.assertEqual(metric(self.replica, "cic_stripe_webhooks_total", '{outcome="bad_signature"}'), 6)
        self.assertEqual(metric(self.replica, "cic_stripe_webhooks_total", '{outcome="recorded"}'), 1)

    def test_alerts_are_delivered_signed_and_once(self):
        self.receiver.fail_first = 2  # the first deliveries fail: alerts are sent again
        self.map_customer()
        # One request, then a budget of $0.0001 (set afterwards: the limiter enforces the cap on
        # requests): its cost passes 80 % and 100 % of it, and is a spike (there is no history).
        self.traffic(1)
        harness.wait_for(lambda: self.store_tokens() > 0, timeout=60, what="usage in the store")
        r = self.replica.admin("PATCH", "/orgs/acme", {"monthly_spend_cap_usd": 0.0001})
        self.assertEqual(r.status, 200, r.body)
        # A credit grant that expires in two days.
        r = self.replica.admin("POST", "/orgs/acme/credits",
                               {"kind": "promotional", "amount_usd": 5, "expires_in_days": 2})
        self.assertEqual(r.status, 201, r.body)
        self.grant_id = r.json()["id"]
        # A failed invoice payment, as Stripe reports it.
        body = self.event("invoice.payment_failed", {"id": "in_fail_1", "object": "invoice", "customer": CUSTOMER,
                                                     "amount_due": 2500, "currency": "usd"})
        self.assertEqual(self.post_webhook(body, sign_webhook(WEBHOOK_SECRET, body)).status, 200)

        kinds = {"budget_80", "budget_100", "spend_spike", "credit_expiring", "payment_failed"}
        harness.wait_for(lambda: {b["type"] for _, b in self.receiver.delivered()} >= kinds, timeout=60,
                         what="every kind of alert to be delivered")
        self.check_deliveries(kinds)

        # Later passes and a restart fire nothing again. A second failed payment (another invoice)
        # is the sign that passes ran after the restart.
        self.restart()
        body = self.event("invoice.payment_failed", {"id": "in_fail_2", "object": "invoice", "customer": CUSTOMER})
        self.assertEqual(self.post_webhook(body, sign_webhook(WEBHOOK_SECRET, body)).status, 200)
        harness.wait_for(lambda: any(b["period"] == "in_fail_2" for _, b in self.receiver.delivered()), timeout=60,
                         what="the second payment alert")
        self.check_deliveries(kinds)
        self.assertEqual(metric(self.replica, "cic_alerts_total", '{kind="payment_failed"}'), 1)

    def check_deliveries(self, kinds):
        with self.receiver.lock:
            calls = list(self.receiver.calls)
        delivered = [(h, raw, json.loads(raw)) for status, h, raw in calls if status < 300]
        ids = [body["id"] for _, _, body in delivered]
        self.assertEqual(len(ids), len(set(ids)), f"an alert was delivered twice: {ids}")
        by_kind = {}
        for headers, raw, body in delivered:
            by_kind.setdefault(body["type"], []).append(body)
            # X-CIC-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + the exact body bytes)>
            signature = dict(item.split("=", 1) for item in headers["x-cic-signature"].split(","))
            expected = hmac.new(ALERTS_SECRET.encode(), signature["t"].encode() + b"." + raw, hashlib.sha256)
            self.assertTrue(hmac.compare_digest(signature["v1"], expected.hexdigest()), body["type"])
            self.assertLessEqual(abs(int(signature["t"]) - time.time()), 300)
            self.assertEqual(headers["x-cic-alert-id"], body["id"])
            self.assertEqual(headers["content-type"], "application/json")
            self.assertEqual(body["org_id"], self.org_id)
        for kind in kinds - {"payment_failed"}:
            self.assertEqual(len(by_kind[kind]), 1, kind)
        self.assertEqual(by_kind["budget_80"][0]["period"], time.strftime("%Y-%m", time.gmtime()))
        self.assertEqual(by_kind["budget_100"][0]["data"]["budget_micros"], 100)
        self.assertEqual(by_kind["spend_spike"][0]["period"], time.strftime("%Y-%m-%d", time.gmtime()))
        self.assertEqual(by_kind["credit_expiring"][0]["period"], self.grant_id)
        failures = [b["period"] for b in by_kind["payment_failed"]]
        self.assertEqual(len(failures), len(set(failures)))
        self.assertIn("in_fail_1", failures)
        self.assertEqual(next(b for b in by_kind["payment_failed"] if b["period"] == "in_fail_1")["data"]["amount_due"],
                         2500)
        # The receiver's 500s were answered by sending the same alerts again, not new ones.
        failed_ids = {json.loads(raw)["id"] for status, _, raw in calls if status >= 300}
        self.assertTrue(failed_ids, "the receiver's first answers were 500s")
        self.assertTrue(failed_ids <= set(ids), failed_ids)


@unittest.skipUnless(POSTGRES_DSN, NO_POSTGRES)
class StripeReportingPostgresTest(StripeTestBase):
    backend = "postgres"

    def setUp(self):
        self.pg = PgDatabase("cic_stripe")
        self.addCleanup(self.pg.drop)
        super().setUp()

    def test_usage_reaches_stripe_once_on_postgres(self):
        self.map_customer()
        self.traffic(2)
        total = self.wait_in_sync(1)
        self.fake.set_fault("drop_after_commit", count=2)
        self.traffic(2)
        total = self.wait_in_sync(total + 1)
        self.fake.set_fault("status", count=4, status=500)
        self.traffic(1)
        total = self.wait_in_sync(total + 1)
        self.restart()
        self.traffic(1)
        self.wait_in_sync(total + 1)
        self.assertEqual(self.fake_counters()["events"], self.scalar("SELECT COUNT(*) FROM stripe_meter_reports"))


if __name__ == "__main__":
    unittest.main()
