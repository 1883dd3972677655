"""Billing over the admin API: usage (GET /admin/v1/usage, JSON and CSV), credits
(/orgs/{org}/credits, the sign-up bonus) and the invoice preview (/orgs/{org}/invoice-preview).

Usage is seeded by real requests through cic-node-sim nodes; the expected costs and bills are
computed here from the token counts the client API answered, with the documented rules (integer
micro-dollars, half-up rounding once per amount). Runs on SQLite, and again on PostgreSQL when
CIC_TEST_POSTGRES_DSN is set.

Usage is read from the store's hourly rollups (usage_hourly), which insert_usage keeps with the
records.
"""
import csv
import datetime
import io
import os
import secrets
import signal
import sqlite3
import unittest

import harness
from admin_fixture import AdminEnv, AdminTestCase, error_code, postgres_variant
from gateway_fixture import CHAT, CHAT2, EMBED, MODELS_YAML, ORPHAN, chat

# Micro-dollars per 1M tokens. CHAT is served in india, where its regional price applies; CHAT2
# costs $0.20 a token so that a few requests use up the $10 sign-up bonus.
CHAT_INDIA = {"input": 200_000, "cached": 200_000, "output": 600_000}
CHAT_REFERENCE = {"input": 150_000, "cached": 150_000, "output": 600_000}
CHAT2_PRICE = {"input": 200_000_000_000, "cached": 200_000_000_000, "output": 200_000_000_000}

PRICED_MODELS_YAML = f"""
models:
  - id: {CHAT}
    family: llama
    kind: chat
    context_length: 8192
    price: {{input_per_million_usd: 0.10, output_per_million_usd: 0.30, cached_input_per_million_usd: 0.05}}
    regional_prices:
      - {{region: india, input_per_million_usd: 0.20, output_per_million_usd: 0.60}}
    reference_price: {{model: gpt-4o-mini, input_per_million_usd: 0.15, output_per_million_usd: 0.60}}
  - id: {CHAT2}
    family: mistral
    kind: chat
    context_length: 8192
    price: {{input_per_million_usd: 200000, output_per_million_usd: 200000}}
  - {{id: {EMBED}, family: bge, kind: embedding, context_length: 512, price: {{input_per_million_usd: 0.02, output_per_million_usd: 0}}}}
  - {{id: {ORPHAN}, family: llama, kind: chat, context_length: 8192}}
"""

PLANS_YAML = """plans:
  - {name: free, monthly_free_tokens: 100000, default_limits: {rpm: 100000, tpm: 100000000, concurrency: 1000}, max_limits: {rpm: 600, tpm: 1000000, concurrency: 50}}
  - {name: pro, default_limits: {rpm: 100000, tpm: 100000000, concurrency: 1000}, max_limits: {rpm: 6000, tpm: 10000000, concurrency: 500}}
  - {name: enterprise, default_limits: {rpm: 100000, tpm: 100000000, concurrency: 1000}}
  # Tokens included and billed beyond (no cap), and the same allowance with a hard cap.
  - {name: developer, monthly_free_tokens: 20, default_limits: {rpm: 100000, tpm: 100000000, concurrency: 1000}}
  - {name: capped, monthly_free_tokens: 20, monthly_token_quota: 60, default_limits: {rpm: 100000, tpm: 100000000, concurrency: 1000}}
"""

CSV_HEADER = ["org", "environment", "model", "region", "period_start", "requests", "prompt_tokens",
              "completion_tokens", "cached_tokens", "cost_usd"]
ROW_KEYS = set(CSV_HEADER)


def half_up(num, den):
    return (2 * num + den) // (2 * den)


def cost_micros(prices, prompt, completion, cached=0):
    return half_up((prompt - cached) * prices["input"] + cached * prices["cached"] + completion * prices["output"],
                   1_000_000)


def micros(usd):
    return round(usd * 1_000_000)


class BillingEnv(AdminEnv):
    """AdminEnv with priced models and a free plan that has a monthly allowance."""

    def config_text(self, bootstrap=True, extra=""):
        text = super().config_text(bootstrap=bootstrap, extra=extra)
        assert MODELS_YAML in text
        text = text.replace(MODELS_YAML, PRICED_MODELS_YAML)
        start = text.index("plans:\n")
        end = text.index("bootstrap:\n")
        return text[:start] + PLANS_YAML + text[end:]


class UsageApiTest(AdminTestCase):

    ENV = BillingEnv
    NODES = (("n1", CHAT), ("n2", CHAT2))

    def new_org(self, plan="pro"):
        org = self.env.create_org("bill-" + secrets.token_hex(4), plan=plan)
        env = self.env.create_env(org["id"], "dev")
        key = self.env.create_key(org["id"], "dev")["key"]
        return org, env, key

    def send(self, key, model, n, max_tokens):
        """n requests; returns the (prompt, completion) usage each answer reported."""
        usages = []
        for i in range(n):
            r = self.env.main.client(key, body=chat(model=model, content=f"bill me {i}", max_tokens=max_tokens))
            self.assertEqual(r.status, 200, r.body)
            u = r.json()["usage"]
            usages.append((u["prompt_tokens"], u["completion_tokens"]))
        return usages

    def usage(self, query="", token=None, headers=None):
        return self.admin("GET", "/usage" + query, token=token, headers=headers)

    def wait_requests(self, org_id, expected):
        """Polls the usage API until the org's requests add up to `expected` (the usage writer
        flushes about once a second); returns the rows."""
        def check():
            r = self.usage(f"?org={org_id}")
            self.assertEqual(r.status, 200, r.body)
            rows = r.json()["data"]
            return rows if sum(row["requests"] for row in rows) == expected else None
        return harness.wait_for(check, timeout=20, interval=0.1, what=f"{expected} requests of {org_id} in /usage")

    # -- usage ---------------------------------------------------------------------------------
    def test_usage_rows_costs_and_granularity(self):
        org, env, key = self.new_org()
        chat_usage = self.send(key, CHAT, 4, 7)
        chat2_usage = self.send(key, CHAT2, 2, 3)
        rows = self.wait_requests(org["id"], 6)

        r = self.usage(f"?org={org['id']}")
        self.assertEqual(r.header("content-type"), "application/json")
        self.assertEqual(set(r.json()), {"object", "data", "has_more", "next_after"})
        self.assertEqual((r.json()["has_more"], r.json()["next_after"]), (False, None))
        self.assertEqual(r.json()["object"], "list")
        for row in rows:
            self.assertEqual(set(row), ROW_KEYS)
            self.assertEqual(row["org"], org["id"])
            self.assertEqual(row["environment"], env["id"])
            self.assertEqual(row["region"], "india")
            self.assertEqual(row["period_start"] % 3600, 0)
            prices = CHAT_INDIA if row["model"] == CHAT else CHAT2_PRICE
            # cost_usd: this hour's tokens at the model's price in the serving region, rounded once.
            self.assertEqual(micros(row["cost_usd"]),
                             cost_micros(prices, row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]),
                             row)

        def totals(rows, model):
            sel = [row for row in rows if row["model"] == model]
            return (sum(row["requests"] for row in sel), sum(row["prompt_tokens"] for row in sel),
                    sum(row["completion_tokens"] for row in sel))

        self.assertEqual(totals(rows, CHAT), (4, sum(p for p, _ in chat_usage), sum(c for _, c in chat_usage)))
        self.assertEqual(totals(rows, CHAT2), (2, sum(p for p, _ in chat2_usage), sum(c for _, c in chat2_usage)))

        days = self.usage(f"?org={org['id']}&granularity=day").json()["data"]
        for row in days:
            self.assertEqual(row["period_start"] % 86400, 0)
        self.assertEqual(totals(days, CHAT), totals(rows, CHAT))
        self.assertEqual(totals(days, CHAT2), totals(rows, CHAT2))

        only = self.usage(f"?org={org['id']}&model={CHAT2}").json()["data"]
        self.assertEqual({row["model"] for row in only}, {CHAT2})
        by_name = self.usage(f"?org={org['name']}&environment=dev").json()["data"]
        self.assertEqual(totals(by_name, CHAT), totals(rows, CHAT))
        by_id = self.usage(f"?environment={env['id']}").json()["data"]
        self.assertEqual(totals(by_id, CHAT2), totals(rows, CHAT2))
        # A window that ends before the usage: nothing.
        self.assertEqual(self.usage(f"?org={org['id']}&from=0&to=3600").json()["data"], [])

    def test_usage_csv(self):
        org, _, key = self.new_org()
        self.send(key, CHAT, 3, 5)
        rows = self.wait_requests(org["id"], 3)
        for query, headers in ((f"?org={org['id']}&format=csv", None),
                               (f"?org={org['id']}", {"Accept": "text/csv"})):
            r = self.usage(query, headers=headers)
            self.assertEqual(r.status, 200, r.body)
            self.assertTrue(r.header("content-type").startswith("text/csv"), r.header("content-type"))
            self.assertTrue(r.body.startswith(b"org,environment,model,region,period_start,"), r.body[:100])
            table = list(csv.reader(io.StringIO(r.body.decode())))
            self.assertEqual(table[0], CSV_HEADER)
            self.assertEqual(len(table) - 1, len(rows))
            for line, row in zip(table[1:], rows):
                self.assertEqual(line[:4], [row["org"], row["environment"], row["model"], row["region"]])
                self.assertEqual([int(x) for x in line[4:9]],
                                 [row["period_start"], row["requests"], row["prompt_tokens"], row["completion_tokens"],
                                  row["cached_tokens"]])
                self.assertRegex(line[9], r"^\d+\.\d{6}$")  # exact micro-dollars, never 1e-05
                self.assertEqual(round(float(line[9]) * 1_000_000), micros(row["cost_usd"]))
        # ?format=json wins over the Accept header.
        r = self.usage(f"?org={org['id']}&format=json", headers={"Accept": "text/csv"})
        self.assertEqual(r.header("content-type"), "application/json")

    def test_usage_validation(self):
        org, _, _ = self.new_org()
        cases = [
            ("?granularity=week", "granularity", "invalid_value"),
            ("?format=xml", "format", "invalid_value"),
            ("?from=yesterday", "from", "invalid_value"),
            ("?to=-5", "to", "invalid_value"),
            ("?from=2000&to=1000", "to", "invalid_value"),
            ("?from=0&to=40000000", "from", "invalid_value"),  # more than 366 days
            ("?environment=dev", "environment", "invalid_value"),  # a name needs the org
            ("?granularty=day", "granularty", "unknown_parameter"),
            ("?limit=0", "limit", "invalid_value"),
            ("?limit=10001", "limit", "invalid_value"),
            ("?after=zz", "after", "invalid_value"),
            ("?after=" + "41" * 8, "after", "invalid_value"),  # hex, but not a cursor
            ("?format=csv&limit=5", "limit", "invalid_value"),  # CSV is the whole range
        ]
        for query, param, code in cases:
            with self.subTest(query=query):
                self.assertError(self.usage(query), 400, code, param)
        self.assertError(self.usage(f"?org={org['id']}&environment=prod"), 404)
        self.assertError(self.admin("POST", "/usage", {}), 405)

    def test_usage_pages_follow_the_cursor(self):
        org, _, key = self.new_org()
        self.send(key, CHAT, 2, 3)
        self.send(key, CHAT2, 1, 3)
        everything = self.wait_requests(org["id"], 3)
        self.assertGreaterEqual(len(everything), 2)
        seen, after, pages = [], None, 0
        while True:
            query = f"?org={org['id']}&limit=1" + (f"&after={after}" if after else "")
            page = self.usage(query).json()
            pages += 1
            self.assertEqual(len(page["data"]), 1, page)
            seen += page["data"]
            if not page["has_more"]:
                self.assertIsNone(page["next_after"])
                break
            after = page["next_after"]
            self.assertRegex(after, "^[0-9a-f]+$")
        self.assertEqual(seen, everything)  # same rows, same order, none twice
        self.assertEqual(pages, len(everything))
        # A page as large as the whole list has no next page.
        whole = self.usage(f"?org={org['id']}&limit={len(everything)}").json()
        self.assertEqual((whole["data"], whole["has_more"], whole["next_after"]), (everything, False, None))

    def test_usage_visibility(self):
        mine, _, my_key = self.new_org()
        theirs, their_env, their_key = self.new_org()
        self.send(my_key, CHAT, 1, 2)
        self.send(their_key, CHAT, 2, 2)
        self.wait_requests(mine["id"], 1)
        self.wait_requests(theirs["id"], 2)
        admin_key = self.env.create_admin_key(mine["id"])["key"]

        own = self.usage("", token=admin_key)
        self.assertEqual(own.status, 200, own.body)
        self.assertEqual({row["org"] for row in own.json()["data"]}, {mine["id"]})
        self.assertEqual(self.usage(f"?org={mine['name']}", token=admin_key).status, 200)
        # Another org, by id or name, or its environment: 404 as if it did not exist.
        self.assertError(self.usage(f"?org={theirs['id']}", token=admin_key), 404)
        self.assertError(self.usage(f"?org={theirs['name']}", token=admin_key), 404)
        self.assertError(self.usage(f"?environment={their_env['id']}", token=admin_key), 404)
        # The operator sees both.
        everyone = {row["org"] for row in self.usage().json()["data"]}
        self.assertTrue({mine["id"], theirs["id"]} <= everyone, everyone)

    # -- credits -------------------------------------------------------------------------------
    def credits(self, org_id, token=None):
        r = self.admin("GET", f"/orgs/{org_id}/credits", token=token)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def grant(self, org_id, body, status=201):
        r = self.admin("POST", f"/orgs/{org_id}/credits", body)
        self.assertEqual(r.status, status, r.body)
        return r.json()

    def test_signup_bonus_is_granted_once(self):
        org, _, _ = self.new_org()
        ledger = self.credits(org["id"])
        self.assertEqual(ledger["object"], "list")
        self.assertEqual(len(ledger["data"]), 1, ledger)
        bonus = ledger["data"][0]
        self.assertEqual(bonus["object"], "credit")
        self.assertEqual(bonus["kind"], "signup_bonus")
        self.assertEqual(bonus["amount_usd"], 10)
        self.assertEqual(bonus["remaining_usd"], 10)
        self.assertIsNone(bonus["expires_at"])
        self.assertEqual(bonus["idempotency_key"], f"signup_bonus:{org['id']}")
        self.assertEqual(ledger["balance"], {"promotional_usd": 10, "paid_usd": 0, "total_usd": 10})
        # Granting it again answers the same credit (200) and writes nothing.
        again = self.grant(org["id"], {"kind": "signup_bonus"}, status=200)
        self.assertEqual(again["id"], bonus["id"])
        self.assertEqual(len(self.credits(org["id"])["data"]), 1)
        # The bonus is part of creating the org: its one audit entry is the org.create; the replay
        # writes none either.
        actions = [a["action"] for a in self.admin("GET", f"/audit?org={org['id']}").json()["data"]]
        self.assertEqual(actions.count("org.create"), 1, actions)
        self.assertNotIn("credit.grant", actions)

    def test_referral_paid_and_adjustments(self):
        org, _, _ = self.new_org()
        friend, _, _ = self.new_org()
        referral = self.grant(org["id"], {"kind": "referral", "referred_org": friend["name"]})
        self.assertEqual(referral["amount_usd"], 5)
        self.assertEqual(referral["idempotency_key"], f"referral:{friend['id']}")
        self.assertEqual(self.grant(org["id"], {"kind": "referral", "referred_org": friend["id"]}, 200)["id"],
                         referral["id"])
        paid = self.grant(org["id"], {"kind": "paid", "amount_usd": 25.5, "idempotency_key": "pay-1",
                                      "note": "invoice 42"})
        self.assertEqual(paid["amount_usd"], 25.5)
        r = self.admin("POST", f"/orgs/{org['id']}/credits", {"kind": "paid", "amount_usd": 30, "idempotency_key": "pay-1"})
        self.assertError(r, 409, "idempotency_key_reused", "idempotency_key")
        promo = self.grant(org["id"], {"kind": "promotional", "amount_usd": 2, "expires_in_days": 30})
        self.assertGreater(promo["expires_at"], 0)

        fix = self.grant(org["id"], {"kind": "adjustment", "amount_usd": -2, "grant_id": referral["id"]})
        self.assertEqual(fix["grant_id"], referral["id"])
        self.assertIsNone(fix["remaining_usd"])
        r = self.admin("POST", f"/orgs/{org['id']}/credits",
                       {"kind": "adjustment", "amount_usd": -4, "grant_id": referral["id"]})
        self.assertError(r, 400, "insufficient_credit", "amount_usd")
        ledger = self.credits(org["id"])
        by_id = {row["id"]: row for row in ledger["data"]}
        self.assertEqual(by_id[referral["id"]]["remaining_usd"], 3)
        self.assertEqual(ledger["balance"], {"promotional_usd": 15, "paid_usd": 25.5, "total_usd": 40.5})
        audit = self.admin("GET", f"/audit?org={org['id']}").json()["data"]
        grants = [a for a in audit if a["action"] == "credit.grant"]
        self.assertEqual(sorted(a["target_id"] for a in grants), sorted([referral["id"], paid["id"], promo["id"]]))
        self.assertTrue(all(a["actor"] == "operator" and a["target_type"] == "credit" for a in grants), grants)
        adjust = [a for a in audit if a["action"] == "credit.adjust"]
        self.assertEqual([a["target_id"] for a in adjust], [fix["id"]])
        self.assertEqual(adjust[0]["after"]["amount_usd"], -2)

    def test_credit_validation_and_access(self):
        org, _, _ = self.new_org()
        other, _, _ = self.new_org()
        cases = [
            ({}, "kind", "missing_required_parameter"),
            ({"kind": "gift"}, "kind", "invalid_value"),
            ({"kind": "paid"}, "amount_usd", "missing_required_parameter"),
            ({"kind": "paid", "amount_usd": 0}, "amount_usd", "invalid_value"),
            ({"kind": "paid", "amount_usd": "5"}, "amount_usd", "invalid_type"),
            ({"kind": "paid", "amount_usd": 2_000_000}, "amount_usd", "invalid_value"),
            ({"kind": "promotional", "amount_usd": -1}, "amount_usd", "invalid_value"),
            ({"kind": "adjustment", "amount_usd": -1}, "grant_id", "missing_required_parameter"),
            ({"kind": "adjustment", "amount_usd": -1, "grant_id": "crd_nope"}, "grant_id", "invalid_value"),
            ({"kind": "paid", "amount_usd": 1, "expires_at": 1}, "expires_at", "invalid_value"),
            ({"kind": "paid", "amount_usd": 1, "expires_in_days": 0}, "expires_in_days", "invalid_value"),
            ({"kind": "paid", "amount_usd": 1, "grant_id": "crd_x"}, "grant_id", "invalid_value"),
            ({"kind": "paid", "amount_usd": 1, "referred_org": other["id"]}, "referred_org", "invalid_value"),
            ({"kind": "referral", "referred_org": org["id"]}, "referred_org", "invalid_value"),
            ({"kind": "paid", "amount_usd": 1, "colour": "red"}, "colour", "unknown_field"),
        ]
        for body, param, code in cases:
            with self.subTest(body=body):
                self.assertError(self.admin("POST", f"/orgs/{org['id']}/credits", body), 400, code, param)
        self.assertEqual(len(self.credits(org["id"])["data"]), 1)  # only the sign-up bonus

        admin_key = self.env.create_admin_key(org["id"])["key"]
        self.assertEqual(len(self.credits(org["id"], token=admin_key)["data"]), 1)
        r = self.admin("POST", f"/orgs/{org['id']}/credits", {"kind": "paid", "amount_usd": 1}, token=admin_key)
        self.assertError(r, 403, "operator_only")
        self.assertError(self.admin("GET", f"/orgs/{other['id']}/credits", token=admin_key), 404)
        self.assertError(self.admin("DELETE", f"/orgs/{org['id']}/credits"), 405)

    # -- invoice preview -----------------------------------------------------------------------
    def preview(self, org_id, token=None):
        r = self.admin("GET", f"/orgs/{org_id}/invoice-preview", token=token)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def test_invoice_preview_credits_in_order(self):
        org, _, key = self.new_org(plan="pro")  # pro: no free allowance
        chat_usage = self.send(key, CHAT, 3, 6)
        chat2_usage = self.send(key, CHAT2, 10, 6)  # >= 7 tokens each at $0.20: more than $11
        self.wait_requests(org["id"], 13)
        promo = self.grant(org["id"], {"kind": "promotional", "amount_usd": 1, "expires_in_days": 1})
        paid = self.grant(org["id"], {"kind": "paid", "amount_usd": 1000})

        inv = self.preview(org["id"])
        self.assertEqual(inv["object"], "invoice_preview")
        self.assertEqual(inv["org"], org["id"])
        self.assertEqual(inv["period_end"] - inv["period_start"] in (28 * 86400, 29 * 86400, 30 * 86400, 31 * 86400),
                         True)
        self.assertTrue(inv["period_start"] <= inv["as_of"] < inv["period_end"])

        p1, c1 = sum(p for p, _ in chat_usage), sum(c for _, c in chat_usage)
        p2, c2 = sum(p for p, _ in chat2_usage), sum(c for _, c in chat2_usage)
        chat_cost = cost_micros(CHAT_INDIA, p1, c1)
        chat2_cost = cost_micros(CHAT2_PRICE, p2, c2)
        lines = {line["model"]: line for line in inv["lines"]}
        self.assertEqual(set(lines), {CHAT, CHAT2})
        self.assertEqual((lines[CHAT]["requests"], lines[CHAT]["prompt_tokens"], lines[CHAT]["completion_tokens"]),
                         (3, p1, c1))
        self.assertEqual(micros(lines[CHAT]["list_cost_usd"]), chat_cost)
        self.assertEqual(lines[CHAT]["price"], {"input_per_million_usd": 0.2, "cached_input_per_million_usd": 0.2,
                                                "output_per_million_usd": 0.6})
        self.assertEqual(micros(lines[CHAT2]["list_cost_usd"]), chat2_cost)
        self.assertIsNone(lines[CHAT2]["reference"])
        subtotal = chat_cost + chat2_cost
        self.assertGreater(subtotal, 11_000_000)
        self.assertEqual(micros(inv["subtotal_usd"]), subtotal)
        self.assertEqual(inv["total_tokens"], p1 + c1 + p2 + c2)
        self.assertEqual(inv["volume_discount"]["amount_usd"], 0)  # far below 10M tokens
        self.assertEqual(inv["volume_discount"]["tiers"][0]["tokens"], p1 + c1 + p2 + c2)
        self.assertEqual([t["discount_percent"] for t in inv["volume_discount"]["tiers"]], [0, 10, 20, 30])
        self.assertEqual(inv["free_allowance"], {"tokens_included": 0, "tokens_used": 0, "amount_usd": 0})

        # Promotional first (the expiring one before the never-expiring bonus), then paid.
        applied = [(a["id"], a["kind"], micros(a["amount_usd"])) for a in inv["credits"]["applied"]]
        bonus_id = next(row["id"] for row in self.credits(org["id"])["data"] if row["kind"] == "signup_bonus")
        self.assertEqual(applied, [(promo["id"], "promotional", 1_000_000), (bonus_id, "signup_bonus", 10_000_000),
                                   (paid["id"], "paid", subtotal - 11_000_000)])
        self.assertEqual(micros(inv["credits"]["promotional_usd"]), 11_000_000)
        self.assertEqual(micros(inv["credits"]["paid_usd"]), subtotal - 11_000_000)
        self.assertEqual(inv["amount_due_usd"], 0)

        # Savings: only CHAT has an OpenAI reference price.
        reference = cost_micros(CHAT_REFERENCE, p1, c1)
        savings = inv["savings_vs_openai"]
        self.assertEqual(savings["tokens_compared"], p1 + c1)
        self.assertEqual(micros(savings["openai_list_usd"]), reference)
        self.assertEqual(micros(savings["our_price_usd"]), chat_cost)
        self.assertEqual(micros(savings["amount_usd"]), reference - chat_cost)

        # The preview uses nothing up: the ledger is unchanged.
        self.assertEqual(len(self.credits(org["id"])["data"]), 3)

    def test_invoice_preview_amount_due_and_free_plan(self):
        pro, _, pro_key = self.new_org(plan="pro")
        usage = self.send(pro_key, CHAT2, 10, 6)
        self.wait_requests(pro["id"], 10)
        subtotal = cost_micros(CHAT2_PRICE, sum(p for p, _ in usage), sum(c for _, c in usage))
        self.assertGreater(subtotal, 10_000_000)
        inv = self.preview(pro["id"])
        self.assertEqual(micros(inv["subtotal_usd"]), subtotal)
        self.assertEqual(micros(inv["credits"]["total_usd"]), 10_000_000)  # the sign-up bonus only
        self.assertEqual(micros(inv["amount_due_usd"]), subtotal - 10_000_000)

        free, _, free_key = self.new_org(plan="free")
        usage = self.send(free_key, CHAT, 2, 4)
        self.wait_requests(free["id"], 2)
        tokens = sum(p + c for p, c in usage)
        inv = self.preview(free["id"])
        subtotal = cost_micros(CHAT_INDIA, sum(p for p, _ in usage), sum(c for _, c in usage))
        self.assertEqual(micros(inv["subtotal_usd"]), subtotal)
        # Well inside the 100K free tokens: the allowance pays for everything, credits stay.
        self.assertEqual(inv["free_allowance"], {"tokens_included": 100000, "tokens_used": tokens,
                                                 "amount_usd": inv["subtotal_usd"]})
        self.assertEqual(inv["credits"]["applied"], [])
        self.assertEqual(inv["amount_due_usd"], 0)

        admin_key = self.env.create_admin_key(free["id"])["key"]
        self.assertEqual(self.preview(free["id"], token=admin_key)["org"], free["id"])
        self.assertError(self.admin("GET", f"/orgs/{pro['id']}/invoice-preview", token=admin_key), 404)
        self.assertError(self.admin("POST", f"/orgs/{free['id']}/invoice-preview", {}), 405)

    def test_free_tokens_included_are_not_a_cap_and_a_quota_is(self):
        # developer: 20 free tokens, no quota. Usage well past them is served and billed.
        dev, _, dev_key = self.new_org(plan="developer")
        usage = self.send(dev_key, CHAT2, 6, 3)
        tokens = sum(p + c for p, c in usage)
        self.assertGreater(tokens, 40)
        self.wait_requests(dev["id"], 6)
        inv = self.preview(dev["id"])
        subtotal = cost_micros(CHAT2_PRICE, sum(p for p, _ in usage), sum(c for _, c in usage))
        self.assertEqual(micros(inv["subtotal_usd"]), subtotal)
        # CHAT2 costs $0.20 a token whatever the side: the 20 free tokens are worth $4.00.
        self.assertEqual(inv["free_allowance"], {"tokens_included": 20, "tokens_used": 20, "amount_usd": 4})
        self.assertEqual(micros(inv["credits"]["total_usd"]), 10_000_000)
        self.assertEqual(micros(inv["amount_due_usd"]), subtotal - 4_000_000 - 10_000_000)

        # capped: the same allowance, and a cap of 60 tokens a month on the org: refused past it.
        capped, _, capped_key = self.new_org(plan="capped")
        statuses = []
        for i in range(30):
            r = self.env.main.client(capped_key, body=chat(model=CHAT2, content=f"cap {i}", max_tokens=3))
            statuses.append(r.status)
            if r.status != 200:
                self.assertEqual(r.status, 429, r.body)
                self.assertEqual(error_code(r), "insufficient_quota", r.body)
                break
        self.assertIn(429, statuses, statuses)
        self.assertGreater(statuses.count(200), 0, statuses)


class MonthCloseTest(unittest.TestCase):
    """Closing a month through the real binary: an org created last month with $12.00 of usage
    then, and its $10 sign-up bonus. The store is backdated while cic-control is stopped; on its
    next start the month-close pass writes last month's invoice and consumes the bonus."""

    def test_a_restart_closes_last_month_and_consumes_its_credit(self):
        env = BillingEnv()
        self.addCleanup(env.stop)
        env.start_node("n1", CHAT)
        first = env.start_replica()
        org = env.create_org("closing-" + secrets.token_hex(4), plan="pro")
        environment = env.create_env(org["id"], "dev")
        r = env.admin("GET", f"/orgs/{org['id']}/invoices")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"object": "list", "data": []})  # this month has not ended
        first.proc.signal(signal.SIGTERM)
        first.proc.wait()

        now = datetime.datetime.now(datetime.timezone.utc)
        this_month = datetime.datetime(now.year, now.month, 1, tzinfo=datetime.timezone.utc)
        last_month = (this_month - datetime.timedelta(days=1)).replace(day=1)
        last_ms = int(last_month.timestamp() * 1000)
        conn = sqlite3.connect(os.path.join(env.var, "cic.db"))
        with conn:
            conn.execute("UPDATE orgs SET created_at = ? WHERE id = ?", (last_ms + 3_600_000, org["id"]))
            conn.execute("UPDATE credit_ledger SET created_at = ? WHERE org_id = ?", (last_ms + 3_600_000, org["id"]))
            # 40 prompt + 20 completion tokens of CHAT2 at $0.20 a token: $12.00, on the 2nd.
            conn.execute("INSERT INTO usage_hourly (org_id, environment_id, model, region, hour_start, requests,"
                         " prompt_tokens, completion_tokens, cached_tokens) VALUES (?, ?, ?, 'india', ?, 3, 40, 20, 0)",
                         (org["id"], environment["id"], CHAT2, last_ms + 30 * 3_600_000))
        conn.close()

        env.replicas.clear()
        env.gateway = None
        second = env.start_replica(name="cic-control-2")
        month = f"{last_month.year:04d}-{last_month.month:02d}"

        def closed():
            r = env.admin("GET", f"/orgs/{org['id']}/invoices")
            self.assertEqual(r.status, 200, r.body)
            return r.json()["data"] or None
        invoices = harness.wait_for(closed, timeout=10, interval=0.1, what="last month closed")
        self.assertEqual(len(invoices), 1, invoices)
        inv = invoices[0]
        self.assertEqual(inv["month"], month)
        self.assertEqual(inv["period_start"], last_ms // 1000)
        self.assertEqual(inv["period_end"], int(this_month.timestamp()))
        self.assertEqual(inv["total_tokens"], 60)
        self.assertEqual(inv["subtotal_usd"], 12)
        self.assertEqual(inv["volume_discount_usd"], 0)
        self.assertEqual(inv["free_allowance_usd"], 0)
        self.assertEqual(inv["promotional_credits_usd"], 10)
        self.assertEqual(inv["paid_credits_usd"], 0)
        self.assertEqual(inv["amount_due_usd"], 2)

        ledger = env.admin("GET", f"/orgs/{org['id']}/credits").json()
        used = [row for row in ledger["data"] if row["amount_usd"] < 0]
        self.assertEqual(len(used), 1, ledger)
        self.assertEqual(used[0]["amount_usd"], -10)
        self.assertEqual(used[0]["kind"], "signup_bonus")
        self.assertEqual(used[0]["idempotency_key"], f"invoice:{org['id']}:{month}:{used[0]['grant_id']}")
        self.assertEqual(ledger["balance"]["total_usd"], 0)
        # This month's preview starts from what is left: no credit.
        preview = env.admin("GET", f"/orgs/{org['id']}/invoice-preview").json()
        self.assertEqual(preview["credits"]["applied"], [])
        # Another start closes nothing twice.
        second.proc.signal(signal.SIGTERM)
        second.proc.wait()
        env.replicas.clear()
        env.gateway = None
        env.start_replica(name="cic-control-3")
        self.assertEqual(len(closed()), 1)
        self.assertEqual(len([row for row in env.admin("GET", f"/orgs/{org['id']}/credits").json()["data"]
                              if row["amount_usd"] < 0]), 1)
        # The bootstrap demo org got its sign-up bonus like any other org, once over three starts.
        demo = env.admin("GET", "/orgs/acme/credits")
        self.assertEqual(demo.status, 200, demo.body)
        self.assertEqual([row["kind"] for row in demo.json()["data"]], ["signup_bonus"], demo.body)


UsageApiPostgresTest = postgres_variant(UsageApiTest, "cic_usage_api")


if __name__ == "__main__":
    unittest.main()
