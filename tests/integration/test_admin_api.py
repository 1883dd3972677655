"""The admin REST API (/admin/v1/) on SQLite (and again on PostgreSQL when CIC_TEST_POSTGRES_DSN
is set): orgs, environments, API keys (rotate, revoke), org
admin keys and their limits, validation, pagination, the audit log and the model catalog."""
import json
import time
import unittest

import harness
from admin_fixture import FREE_DEFAULT, FREE_MAX, AdminTestCase, error_code, postgres_variant, wait_status
from gateway_fixture import CHAT, CHAT2, EMBED, ORPHAN, chat

LIST_KEYS = {"object", "data", "has_more", "next_after"}


class AdminApiTest(AdminTestCase):
    """One gateway for the class; every test works in orgs of its own."""

    NODES = (("n1", CHAT),)

    def use(self, key, model=CHAT):
        return self.env.main.client(key, body=chat(model=model, max_tokens=2))

    def audit(self, **query):
        """Every matching audit entry (all pages), newest first."""
        entries, after = [], None
        while True:
            q = dict(query, limit=100)
            if after:
                q["after"] = after
            r = self.admin("GET", "/audit?" + "&".join(f"{k}={v}" for k, v in q.items()))
            self.assertEqual(r.status, 200, r.body)
            body = r.json()
            entries += body["data"]
            if not body["has_more"]:
                return entries
            after = body["next_after"]

    def org_env_key(self, org_name, **env_extra):
        org = self.env.create_org(org_name)
        env = self.env.create_env(org["id"], **env_extra)
        key = self.env.create_key(org["id"], env["id"], name="k1")
        return org, env, key

    # -- lifecycle -----------------------------------------------------------------------------
    def test_full_lifecycle_create_use_rotate_revoke(self):
        org = self.env.create_org("life")
        self.assertTrue(org["id"].startswith("org_"), org)
        self.assertEqual((org["object"], org["name"], org["email"], org["plan"]), ("organization", "life", "ops@life.example", "free"))
        for field in ("monthly_spend_cap_usd", "created_at", "updated_at"):
            self.assertIn(field, org)
        env = self.env.create_env("life", name="prod")  # by name
        self.assertEqual((env["object"], env["org_id"], env["name"], env["region"]), ("environment", org["id"], "prod", "india"))
        self.assertEqual(env["models"], [CHAT, CHAT2, EMBED, ORPHAN], "default: the whole catalog")
        self.assertEqual(env["data_residency"], "flexible")
        self.assertEqual(env["limits"], FREE_DEFAULT, "an environment without limits shows the plan's defaults")

        created = self.env.create_key("life", "prod", name="ci")
        secret = created["key"]
        self.assertTrue(secret.startswith("sk_prod_"), secret)
        self.assertEqual(created["state"], "active")
        self.assertEqual(created["environment_id"], env["id"])
        self.assertTrue(secret.startswith(created["prefix"]), created)
        self.assertLess(len(created["prefix"]), len(secret))
        r = self.use(secret)
        self.assertEqual(r.status, 200, r.body)
        # The pinned path works with ids and names.
        for path in (f"/life/prod/{CHAT}/v1/chat/completions", f"/{org['id']}/{env['id']}/{CHAT}/v1/chat/completions"):
            r = self.env.main.client(secret, path=path, body={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
            self.assertEqual(r.status, 200, (path, r.body))

        # Rotate with the default grace: both keys work.
        r = self.admin("POST", f"/orgs/life/environments/prod/keys/{created['id']}/rotate", {})
        self.assertEqual(r.status, 201, r.body)
        rotated = r.json()
        self.assertEqual(rotated["rotated_from"], created["id"])
        self.assertNotEqual(rotated["id"], created["id"])
        self.assertNotEqual(rotated["key"], secret)
        self.assertTrue(rotated["key"].startswith("sk_prod_"))
        self.assertAlmostEqual(rotated["old_key_expires_at"], time.time() + 3600, delta=30)
        self.assertEqual(rotated["name"], "ci", "the new key keeps the old one's name")
        self.assertEqual(self.use(secret).status, 200, "old key works during the grace period")
        self.assertEqual(self.use(rotated["key"]).status, 200, "new key works at once")
        old_view = self.admin("GET", f"/orgs/life/environments/prod/keys/{created['id']}").json()
        self.assertEqual(old_view["replaced_by"], rotated["id"])
        self.assertEqual(old_view["expires_at"], rotated["old_key_expires_at"])

        # Rotate the new key with a 1 s grace: its predecessor stops working after it.
        start = time.monotonic()
        r = self.admin("POST", f"/orgs/life/environments/prod/keys/{rotated['id']}/rotate", {"grace_period_seconds": 1})
        self.assertEqual(r.status, 201, r.body)
        third = r.json()
        self.assertEqual(self.use(rotated["key"]).status, 200, "still inside the 1 s grace")
        self.assertEqual(self.use(third["key"]).status, 200)
        r, waited = wait_status(lambda: self.use(rotated["key"]), 401, timeout=5, what="rotated key to expire")
        self.assertGreaterEqual(time.monotonic() - start, 0.9, "the old key must work for its whole grace period")
        self.assertIn(error_code(r), ("expired_api_key", "invalid_api_key"), r.body)
        state = self.admin("GET", f"/orgs/life/environments/prod/keys/{rotated['id']}").json()["state"]
        self.assertEqual(state, "expired")

        # Revoke the newest key: 401 on the very next request.
        self.assertEqual(self.use(third["key"]).status, 200)
        r = self.admin("DELETE", f"/orgs/life/environments/prod/keys/{third['id']}")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["state"], "revoked")
        self.assertIsNotNone(r.json()["revoked_at"])
        self.assertError(self.use(third["key"]), 401)
        # Revoking again changes nothing; rotating a revoked key is refused.
        self.assertEqual(self.admin("DELETE", f"/orgs/life/environments/prod/keys/{third['id']}").status, 200)
        r = self.admin("POST", f"/orgs/life/environments/prod/keys/{third['id']}/rotate", {})
        self.assertIn(r.status, (400, 404, 409), r.body)

        # The original key (default grace) still works; the listing never shows a secret.
        self.assertEqual(self.use(secret).status, 200)
        r = self.admin("GET", "/orgs/life/environments/prod/keys")
        self.assertEqual(r.status, 200, r.body)
        listing = r.json()
        self.assertEqual(set(listing), LIST_KEYS)
        self.assertEqual(len(listing["data"]), 3)
        for view in listing["data"]:
            self.assertNotIn("key", view)
            self.assertEqual(view["object"], "api_key")
            self.assertTrue(view["prefix"].startswith("sk_prod_"), view)
        for s in (secret, rotated["key"], third["key"]):
            self.assertNotIn(s, r.body.decode())
            self.assertNotIn(s[len("sk_prod_") + 4:], r.body.decode())
        states = {v["id"]: v["state"] for v in listing["data"]}
        self.assertEqual(states, {created["id"]: "active", rotated["id"]: "expired", third["id"]: "revoked"})
        single = self.admin("GET", f"/orgs/life/environments/prod/keys/{created['id']}")
        self.assertEqual(single.status, 200)
        self.assertNotIn("key", single.json())
        self.assertNotIn(secret, single.body.decode())

    def test_key_expiry_fields_and_limits(self):
        org, env, _ = self.org_env_key("keyexp")
        k = self.env.create_key("keyexp", "dev", expires_in=1, limits={"rpm": 5})
        self.assertEqual(k["limits"], {"rpm": 5})
        self.assertAlmostEqual(k["expires_at"], time.time() + 1, delta=3)
        self.assertEqual(self.use(k["key"]).status, 200)
        wait_status(lambda: self.use(k["key"]), 401, timeout=5, what="expires_in key to expire")
        at = int(time.time()) + 3600
        k2 = self.env.create_key("keyexp", "dev", expires_at=at)
        self.assertEqual(k2["expires_at"], at)
        r = self.admin("POST", "/orgs/keyexp/environments/dev/keys", {"expires_at": 1000})
        self.assertError(r, 400, param="expires_at")
        r = self.admin("POST", f"/orgs/keyexp/environments/dev/keys/{k2['id']}/rotate", {"grace_period_seconds": 31 * 86400})
        self.assertError(r, 400, param="grace_period_seconds")
        r = self.admin("POST", f"/orgs/keyexp/environments/dev/keys/{k2['id']}/rotate", {"grace_period_seconds": -1})
        self.assertError(r, 400, param="grace_period_seconds")

    def test_rotated_key_revoked_during_grace_and_new_key_scoped(self):
        org, env, key = self.org_env_key("graceorg")
        r = self.admin("POST", f"/orgs/graceorg/environments/dev/keys/{key['id']}/rotate", {"grace_period_seconds": 600})
        self.assertEqual(r.status, 201, r.body)
        new = r.json()
        # Revoking the old key during its grace stops it at once; the new one is unaffected.
        self.assertEqual(self.admin("DELETE", f"/orgs/graceorg/environments/dev/keys/{key['id']}").status, 200)
        self.assertError(self.use(key["key"]), 401)
        self.assertEqual(self.use(new["key"]).status, 200)

    def test_rotating_an_already_rotated_key_is_refused(self):
        org, env, key = self.org_env_key("rerotate")
        first = self.admin("POST", f"/orgs/rerotate/environments/dev/keys/{key['id']}/rotate", {})
        self.assertEqual(first.status, 201, first.body)
        again = self.admin("POST", f"/orgs/rerotate/environments/dev/keys/{key['id']}/rotate", {})
        self.assertEqual(again.status, 409, again.body)

    # -- credentials ---------------------------------------------------------------------------
    def test_missing_and_bad_credentials_are_401(self):
        org, env, key = self.org_env_key("credorg")
        bad = {
            "none": dict(auth=False),
            "empty bearer": dict(headers={"Authorization": "Bearer "}, auth=False),
            "basic": dict(headers={"Authorization": "Basic b3A6b3A="}, auth=False),
            "wrong token": dict(token="op-" + "0" * 40),
            "token prefix": dict(token=self.env.operator_token[:-1]),
            "token plus": dict(token=self.env.operator_token + "x"),
            "api key": dict(token=key["key"]),
            "bootstrap api key": dict(token=self.env.api_key),
            "fake admin key": dict(token="sk_admin_" + "A" * 46),
        }
        before = len(self.audit())
        for what, kwargs in bad.items():
            for method, path, body in (("GET", "/orgs", None), ("POST", "/orgs", {"name": "x401", "email": "a@b.c"}),
                                       ("GET", "/orgs/credorg", None), ("DELETE", "/orgs/credorg", None),
                                       ("GET", "/models", None), ("GET", "/audit", None),
                                       ("DELETE", f"/orgs/credorg/environments/dev/keys/{key['id']}", None)):
                with self.subTest(what=what, method=method, path=path):
                    r = self.admin(method, path, body, **kwargs)
                    self.assertError(r, 401)
        self.assertEqual(len(self.audit()), before, "failed calls write no audit entry")
        self.assertEqual(self.use(key["key"]).status, 200, "nothing was revoked")
        self.assertEqual(self.admin("GET", "/orgs/credorg").status, 200, "nothing was deleted")

    # -- validation ----------------------------------------------------------------------------
    def test_org_validation(self):
        cases = [
            ({"email": "a@b.c"}, "name"),
            ({"name": "", "email": "a@b.c"}, "name"),
            ({"name": "has space", "email": "a@b.c"}, "name"),
            ({"name": "slash/x", "email": "a@b.c"}, "name"),
            ({"name": "x" * 65, "email": "a@b.c"}, "name"),
            ({"name": "org_lookslikeid", "email": "a@b.c"}, "name"),
            ({"name": 42, "email": "a@b.c"}, "name"),
            ({"name": "okname"}, "email"),
            ({"name": "okname", "email": "not-an-email"}, "email"),
            ({"name": "okname", "email": "a@b.c", "plan": "platinum"}, "plan"),
            ({"name": "okname", "email": "a@b.c", "monthly_spend_cap_usd": -1}, "monthly_spend_cap_usd"),
            ({"name": "okname", "email": "a@b.c", "colour": "red"}, "colour"),
        ]
        before = len(self.audit())
        for body, param in cases:
            with self.subTest(body=body):
                r = self.admin("POST", "/orgs", body)
                err = self.assertError(r, 400, param=param)
                if param == "colour":
                    self.assertEqual(err["code"], "unknown_field")
        for raw in (b"{not json", b"[1,2]"):
            r = harness.request(self.env.main.admin_port, "POST", "/admin/v1/orgs", body=raw,
                                headers={"Authorization": f"Bearer {self.env.operator_token}", "Content-Type": "application/json"})
            self.assertError(r, 400)
        self.assertEqual(len(self.audit()), before, "failed calls write no audit entry")
        self.assertEqual(self.admin("GET", "/orgs/okname").status, 404)
        ok = self.env.create_org("x" * 64)  # 64 characters is allowed
        self.assertEqual(ok["name"], "x" * 64)
        ok = self.env.create_org("A.b-c_9", plan="enterprise", monthly_spend_cap_usd=12.5)
        self.assertEqual((ok["plan"], ok["monthly_spend_cap_usd"]), ("enterprise", 12.5))
        r = self.admin("PATCH", "/orgs/A.b-c_9", {"plan": "gold"})
        self.assertError(r, 400, param="plan")
        r = self.admin("PATCH", "/orgs/A.b-c_9", {"unknown": 1})
        self.assertError(r, 400, code="unknown_field")

    def test_duplicate_org_and_environment_are_409(self):
        self.env.create_org("dupe")
        before = len(self.audit())
        self.assertError(self.admin("POST", "/orgs", {"name": "dupe", "email": "x@y.z"}), 409)
        self.env.create_env("dupe", name="dev")
        self.assertError(self.admin("POST", "/orgs/dupe/environments", {"name": "dev", "region": "apac"}), 409)
        self.assertEqual(len(self.audit()), before + 1, "only the environment creation is audited")
        other = self.env.create_org("dupe2")
        self.assertError(self.admin("PATCH", f"/orgs/{other['id']}", {"name": "dupe"}), 409)

    def test_environment_validation(self):
        self.env.create_org("envval")
        cases = [
            ({"region": "india"}, "name"),
            ({"name": "qa", "region": "india"}, "name"),
            ({"name": "DEV", "region": "india"}, "name"),
            ({"name": "dev"}, "region"),
            ({"name": "dev", "region": "mars"}, "region"),
            ({"name": "dev", "region": "india", "models": ["gpt-17"]}, "models"),
            ({"name": "dev", "region": "india", "models": CHAT}, "models"),
            ({"name": "dev", "region": "india", "models": [1]}, "models"),
            ({"name": "dev", "region": "india", "data_residency": "maybe"}, "data_residency"),
            ({"name": "dev", "region": "india", "monthly_token_quota": -5}, "monthly_token_quota"),
            ({"name": "dev", "region": "india", "limits": {"rpm": -1}}, None),
            ({"name": "dev", "region": "india", "limits": {"rpm": "fast"}}, None),
            ({"name": "dev", "region": "india", "limits": {"rpx": 5}}, None),
            ({"name": "dev", "region": "india", "limits": [5]}, "limits"),
            ({"name": "dev", "region": "india", "limits": {"rpm": 1.5}}, None),
            ({"name": "dev", "region": "india", "org_id": "org_x"}, None),
            ({"name": "dev", "region": "india", "flavour": 1}, "flavour"),
        ]
        before = len(self.audit())
        for body, param in cases:
            with self.subTest(body=body):
                r = self.admin("POST", "/orgs/envval/environments", body)
                err = self.assertError(r, 400)
                if param:
                    self.assertEqual(err["param"], param, r.body)
                else:
                    self.assertTrue(err["param"], r.body)
                    if "limits" in body:
                        self.assertTrue(err["param"].startswith("limits"), r.body)
        self.assertEqual(len(self.audit()), before)
        self.assertEqual(self.admin("GET", "/orgs/envval/environments").json()["data"], [])
        env = self.env.create_env("envval", name="staging", region="apac", models=[CHAT2])
        for body, param in (({"name": "prod"}, "name"), ({"region": "mars"}, "region"), ({"models": ["nope"]}, "models"),
                            ({"limits": {"tpm": -3}}, None), ({"bogus": True}, "bogus")):
            with self.subTest(patch=body):
                err = self.assertError(self.admin("PATCH", f"/orgs/envval/environments/{env['id']}", body), 400)
                if param:
                    self.assertEqual(err["param"], param)
        self.assertEqual(self.admin("GET", "/orgs/envval/environments/staging").json()["models"], [CHAT2])
        r = self.admin("POST", "/orgs/envval/environments/staging/keys", {"secret": "mine"})
        self.assertError(r, 400, code="unknown_field", param="secret")

    def test_environment_settings_round_trip(self):
        self.env.create_org("roundtrip", plan="pro")
        env = self.env.create_env("roundtrip", name="prod", region="apac", models=[CHAT, EMBED],
                                  limits={"rpm": 1000, "tpm": 2000000, "concurrency": 5},
                                  monthly_token_quota=123456, monthly_spend_cap_usd=99.5, data_residency="strict")
        expected = {"region": "apac", "models": [CHAT, EMBED], "limits": {"rpm": 1000, "tpm": 2000000, "concurrency": 5},
                    "monthly_token_quota": 123456, "monthly_spend_cap_usd": 99.5, "data_residency": "strict"}
        for view in (env, self.admin("GET", "/orgs/roundtrip/environments/prod").json(),
                     self.admin("GET", f"/orgs/roundtrip/environments/{env['id']}").json(),
                     self.admin("GET", "/orgs/roundtrip/environments").json()["data"][0]):
            self.assertEqual({k: view[k] for k in expected}, expected)
        r = self.admin("PATCH", "/orgs/roundtrip/environments/prod",
                       {"data_residency": "flexible", "limits": {"rpm": 7}, "region": "india", "models": [CHAT2]})
        self.assertEqual(r.status, 200, r.body)
        got = self.admin("GET", "/orgs/roundtrip/environments/prod").json()
        self.assertEqual(got["data_residency"], "flexible")
        self.assertEqual(got["region"], "india")
        self.assertEqual(got["models"], [CHAT2])
        self.assertEqual(got["limits"]["rpm"], 7)
        self.assertEqual(got["name"], "prod")
        self.assertEqual(got["id"], env["id"])

    def test_environment_models_and_delete_take_effect_at_once(self):
        org, env, key = self.org_env_key("envfx", models=[CHAT])
        self.assertEqual(self.use(key["key"]).status, 200)
        self.assertError(self.use(key["key"], model=CHAT2), 403, code="model_not_enabled")
        self.assertError(self.use(key["key"], model="no-such-model"), 404)
        r = self.admin("PATCH", "/orgs/envfx/environments/dev", {"models": [CHAT2]})
        self.assertEqual(r.status, 200, r.body)
        self.assertError(self.use(key["key"]), 403, code="model_not_enabled")
        self.assertEqual(self.admin("PATCH", "/orgs/envfx/environments/dev", {"models": [CHAT]}).status, 200)
        self.assertEqual(self.use(key["key"]).status, 200)
        r = self.admin("DELETE", "/orgs/envfx/environments/dev")
        self.assertEqual(r.status, 200, r.body)
        self.assertError(self.use(key["key"]), 401)
        self.assertEqual(self.admin("GET", "/orgs/envfx/environments/dev").status, 404)
        self.assertEqual(self.admin("GET", f"/orgs/envfx/environments/dev/keys/{key['id']}").status, 404)
        again = self.env.create_env("envfx", name="dev")  # the name is free again
        self.assertNotEqual(again["id"], env["id"])

    # -- pagination ----------------------------------------------------------------------------
    def test_pagination_of_25_orgs_by_10(self):
        created = {self.env.create_org(f"page{i:02d}")["id"] for i in range(25)}
        seen, pages, after = [], 0, None
        while True:
            r = self.admin("GET", "/orgs?limit=10" + (f"&after={after}" if after else ""))
            self.assertEqual(r.status, 200, r.body)
            body = r.json()
            self.assertEqual(set(body), LIST_KEYS)
            self.assertEqual(body["object"], "list")
            self.assertLessEqual(len(body["data"]), 10)
            pages += 1
            seen += [o["id"] for o in body["data"]]
            if not body["has_more"]:
                self.assertIsNone(body["next_after"])
                break
            self.assertEqual(len(body["data"]), 10)
            self.assertEqual(body["next_after"], body["data"][-1]["id"])
            after = body["next_after"]
            self.assertLess(pages, 50, "pagination does not end")
        self.assertEqual(len(seen), len(set(seen)), "no org appears twice")
        self.assertTrue(created <= set(seen), "every org appears")
        all_orgs = self.admin("GET", "/orgs?limit=100").json()
        self.assertEqual(len(seen), len(all_orgs["data"]))
        self.assertGreaterEqual(pages, 3)
        for bad in ("0", "101", "-1", "ten"):
            self.assertError(self.admin("GET", f"/orgs?limit={bad}"), 400, param="limit")
        # Environment and key listings page the same way.
        self.env.create_env("page00", name="dev")
        for i in range(3):
            self.env.create_key("page00", "dev", name=f"k{i}")
        first = self.admin("GET", "/orgs/page00/environments/dev/keys?limit=2").json()
        self.assertEqual((len(first["data"]), first["has_more"]), (2, True))
        rest = self.admin("GET", f"/orgs/page00/environments/dev/keys?limit=2&after={first['next_after']}").json()
        self.assertEqual((len(rest["data"]), rest["has_more"], rest["next_after"]), (1, False, None))
        self.assertFalse({k["id"] for k in first["data"]} & {k["id"] for k in rest["data"]})

    # -- audit ---------------------------------------------------------------------------------
    def test_audit_one_entry_per_mutation_with_request_id(self):
        t0 = int(time.time())
        calls = []  # (response, action, target_type)

        def mutate(method, path, body, action, target_type, token=None):
            r = self.admin(method, path, body, token=token)
            self.assertIn(r.status, (200, 201), r.body)
            self.assertTrue(r.header("x-request-id"), "admin responses carry x-request-id")
            calls.append((r, action, target_type))
            return r.json()

        org = mutate("POST", "/orgs", {"name": "audited", "email": "a@audited.example"}, "org.create", "org")
        mutate("PATCH", "/orgs/audited", {"email": "b@audited.example"}, "org.update", "org")
        env = mutate("POST", "/orgs/audited/environments", {"name": "dev", "region": "india"}, "environment.create", "environment")
        mutate("PATCH", "/orgs/audited/environments/dev", {"data_residency": "strict"}, "environment.update", "environment")
        key = mutate("POST", "/orgs/audited/environments/dev/keys", {"name": "a"}, "api_key.create", "api_key")
        mutate("POST", f"/orgs/audited/environments/dev/keys/{key['id']}/rotate", {}, "api_key.rotate", "api_key")
        mutate("DELETE", f"/orgs/audited/environments/dev/keys/{key['id']}", None, "api_key.revoke", "api_key")
        adk = mutate("POST", "/orgs/audited/admin-keys", {"name": "boss"}, "admin_key.create", "admin_key")
        # The org admin makes changes too; it is the actor of those.
        k2 = mutate("POST", "/orgs/audited/environments/dev/keys", {"name": "by-admin"}, "api_key.create", "api_key", token=adk["key"])
        mutate("DELETE", f"/orgs/audited/admin-keys/{adk['id']}", None, "admin_key.revoke", "admin_key")
        mutate("DELETE", "/orgs/audited/environments/dev", None, "environment.delete", "environment")
        mutate("POST", "/orgs/audited/environments", {"name": "dev", "region": "india"}, "environment.create", "environment")
        mutate("DELETE", "/orgs/audited", None, "org.delete", "org")

        # Failed calls: none of them is audited.
        self.assertEqual(self.admin("PATCH", "/orgs/audited", {"email": "c@x.y"}).status, 404)
        self.assertEqual(self.admin("POST", "/orgs", {"name": "audited!", "email": "a@b.c"}).status, 400)

        entries = self.audit(org=org["id"])
        self.assertEqual(len(entries), len(calls), json.dumps(entries, indent=1)[:3000])
        by_request = {e["request_id"]: e for e in entries}
        self.assertEqual(len(by_request), len(entries), "request ids are unique")
        for r, action, target_type in calls:
            rid = r.header("x-request-id")
            self.assertIn(rid, by_request, f"no audit entry for {action} (request {rid})")
            e = by_request[rid]
            self.assertEqual((e["action"], e["target_type"], e["org_id"], e["object"]), (action, target_type, org["id"], "audit_entry"))
            self.assertGreaterEqual(e["at"], t0 - 1)
            self.assertEqual(e["at"], e["at_ms"] // 1000)
            body = r.json()
            if action.endswith(".create"):
                self.assertIsNone(e["before"])
                self.assertEqual(e["target_id"], body["id"])
                self.assertEqual(e["after"]["id"], body["id"])
            elif action.endswith(".delete"):
                self.assertIsNotNone(e["before"])
                self.assertIsNone(e["after"])
            else:
                self.assertIsNotNone(e["before"])
                self.assertIsNotNone(e["after"])
            for side in ("before", "after"):
                self.assertNotIn("key", e[side] or {}, "audit entries never hold secrets")
        # Specific before/after contents.
        upd = next(e for e in entries if e["action"] == "org.update")
        self.assertEqual((upd["before"]["email"], upd["after"]["email"]), ("a@audited.example", "b@audited.example"))
        envu = next(e for e in entries if e["action"] == "environment.update")
        self.assertEqual((envu["before"]["data_residency"], envu["after"]["data_residency"]), ("flexible", "strict"))
        rev = next(e for e in entries if e["action"] == "api_key.revoke")
        self.assertEqual((rev["target_id"], rev["before"]["state"], rev["after"]["state"]), (key["id"], "active", "revoked"))
        rot = next(e for e in entries if e["action"] == "api_key.rotate")
        self.assertEqual(rot["target_id"], key["id"])
        # Newest first.
        self.assertEqual([e["at_ms"] for e in entries], sorted((e["at_ms"] for e in entries), reverse=True))
        self.assertEqual(entries[0]["action"], "org.delete")
        # Actors.
        admin_actor = f"admin_key:{adk['id']}"
        by_admin = [e for e in entries if e["actor"] == admin_actor]
        self.assertEqual([e["target_id"] for e in by_admin], [k2["id"]])
        self.assertTrue(all(e["actor"] == "operator" for e in entries if e["actor"] != admin_actor))
        self.assertEqual([e["id"] for e in self.audit(org=org["id"], actor=admin_actor)], [by_admin[0]["id"]])
        self.assertEqual(len(self.audit(org=org["id"], actor="operator")), len(entries) - 1)
        # Filters by action and time.
        creates = self.audit(org=org["id"], action="environment.create")
        self.assertEqual(len(creates), 2)
        self.assertTrue(all(e["action"] == "environment.create" for e in creates))
        self.assertEqual(len(self.audit(action="org.create", org=org["id"])), 1)
        self.assertEqual(self.audit(org=org["id"], to=t0 - 10), [])
        self.assertEqual(self.audit(org=org["id"], **{"from": int(time.time()) + 10}), [])
        self.assertEqual(len(self.audit(org=org["id"], **{"from": t0 - 1, "to": int(time.time()) + 1})), len(entries))
        self.assertError(self.admin("GET", "/audit?from=yesterday"), 400, param="from")
        # The org is deleted, but its history stays reachable by id, and pages like any list.
        page = self.admin("GET", f"/audit?org={org['id']}&limit=3").json()
        self.assertEqual((len(page["data"]), page["has_more"]), (3, True))
        self.assertEqual([e["id"] for e in page["data"]], [e["id"] for e in entries[:3]])

    def test_audit_of_org_admin_is_its_own_org_only(self):
        a = self.env.create_org("audita")
        b = self.env.create_org("auditb")
        self.env.create_env("auditb", name="dev")
        adk = self.env.create_admin_key("audita")
        self.env.create_env("audita", name="dev", token=adk["key"])
        r = self.admin("GET", "/audit", token=adk["key"])
        self.assertEqual(r.status, 200, r.body)
        entries = r.json()["data"]
        self.assertTrue(entries)
        self.assertEqual({e["org_id"] for e in entries}, {a["id"]})
        self.assertEqual(self.admin("GET", f"/audit?org={b['id']}", token=adk["key"]).status, 404)
        self.assertEqual(self.admin("GET", "/audit?org=auditb", token=adk["key"]).status, 404)
        r = self.admin("GET", "/audit?org=audita", token=adk["key"])
        self.assertEqual(r.status, 200)
        self.assertEqual({e["org_id"] for e in r.json()["data"]}, {a["id"]})

    # -- deletion ------------------------------------------------------------------------------
    def test_deleting_org_revokes_keys_404s_it_and_frees_the_name(self):
        org, env, key = self.org_env_key("doomed")
        adk = self.env.create_admin_key("doomed")
        self.assertEqual(self.use(key["key"]).status, 200)
        self.assertEqual(self.admin("GET", "/orgs/doomed", token=adk["key"]).status, 200)
        r = self.admin("DELETE", "/orgs/doomed")
        self.assertEqual(r.status, 200, r.body)
        self.assertError(self.use(key["key"]), 401)
        self.assertError(self.admin("GET", "/orgs/doomed"), 404)
        self.assertError(self.admin("GET", f"/orgs/{org['id']}"), 404)
        self.assertError(self.admin("GET", f"/orgs/{org['id']}/environments"), 404)
        self.assertError(self.admin("DELETE", "/orgs/doomed"), 404)
        self.assertError(self.admin("GET", "/orgs", token=adk["key"]), 401)
        self.assertNotIn(org["id"], [o["id"] for o in self.admin("GET", "/orgs?limit=100").json()["data"]])
        again = self.env.create_org("doomed")
        self.assertNotEqual(again["id"], org["id"])
        env2 = self.env.create_env("doomed")
        key2 = self.env.create_key("doomed", "dev")
        self.assertEqual(self.use(key2["key"]).status, 200)
        self.assertError(self.use(key["key"]), 401, )
        self.assertEqual(self.admin("GET", f"/orgs/doomed/environments/{env['id']}").status, 404)
        self.assertNotEqual(env2["id"], env["id"])

    # -- org admin keys ------------------------------------------------------------------------
    def test_org_admin_key_scope(self):
        mine = self.env.create_org("mine")
        other = self.env.create_org("other")
        other_env = self.env.create_env("other")
        other_key = self.env.create_key("other", "dev")
        adk = self.env.create_admin_key("mine", name="boss")
        self.assertTrue(adk["key"].startswith("sk_admin_"), adk)
        self.assertEqual(adk["org_id"], mine["id"])
        tok = adk["key"]

        # Its own org: read, update, environments, keys.
        self.assertEqual(self.admin("GET", "/orgs/mine", token=tok).status, 200)
        listing = self.admin("GET", "/orgs", token=tok).json()
        self.assertEqual([o["id"] for o in listing["data"]], [mine["id"]])
        r = self.admin("PATCH", "/orgs/mine", {"email": "new@mine.example"}, token=tok)
        self.assertEqual((r.status, r.json().get("email")), (200, "new@mine.example"), r.body)
        env = self.env.create_env("mine", name="dev", token=tok, limits={"rpm": 600, "tpm": 1000000, "concurrency": 50})
        self.assertEqual(env["limits"], FREE_MAX)
        r = self.admin("PATCH", "/orgs/mine/environments/dev", {"models": [CHAT]}, token=tok)
        self.assertEqual(r.status, 200, r.body)
        key = self.env.create_key("mine", "dev", token=tok, name="from-admin")
        self.assertTrue(key["key"].startswith("sk_dev_"))
        self.assertEqual(self.use(key["key"]).status, 200)
        r = self.admin("POST", f"/orgs/mine/environments/dev/keys/{key['id']}/rotate", {"grace_period_seconds": 0}, token=tok)
        self.assertEqual(r.status, 201, r.body)
        new = r.json()
        self.assertEqual(self.use(new["key"]).status, 200)
        wait_status(lambda: self.use(key["key"]), 401, timeout=3, what="zero-grace rotated key to stop")
        self.assertEqual(self.admin("DELETE", f"/orgs/mine/environments/dev/keys/{new['id']}", token=tok).status, 200)
        self.assertError(self.use(new["key"]), 401)
        self.assertEqual(self.admin("GET", "/models", token=tok).status, 200)
        self.assertEqual(self.admin("POST", "/orgs/mine/environments", {"name": "staging", "region": "apac"}, token=tok).status, 201)
        self.assertEqual(self.admin("DELETE", "/orgs/mine/environments/staging", token=tok).status, 200)

        # Other orgs do not exist for it.
        for method, path in (("GET", "/orgs/other"), ("GET", f"/orgs/{other['id']}"), ("PATCH", "/orgs/other"),
                             ("DELETE", "/orgs/other"), ("GET", "/orgs/other/environments"),
                             ("GET", f"/orgs/other/environments/{other_env['id']}"),
                             ("GET", f"/orgs/mine/environments/{other_env['id']}"),
                             ("GET", f"/orgs/mine/environments/dev/keys/{other_key['id']}"),
                             ("DELETE", f"/orgs/other/environments/dev/keys/{other_key['id']}"),
                             ("GET", "/orgs/other/admin-keys")):
            with self.subTest(method=method, path=path):
                self.assertError(self.admin(method, path, {} if method == "PATCH" else None, token=tok), 404)
        self.assertEqual(self.use(other_key["key"]).status, 200)

        # Operator-only actions.
        before = len(self.audit())
        self.assertError(self.admin("POST", "/orgs", {"name": "sneaky", "email": "s@s.s"}, token=tok), 403, code="operator_only")
        self.assertError(self.admin("DELETE", "/orgs/mine", token=tok), 403, code="operator_only")
        self.assertError(self.admin("GET", "/orgs/mine/admin-keys", token=tok), 403, code="operator_only")
        self.assertError(self.admin("POST", "/orgs/mine/admin-keys", {"name": "x"}, token=tok), 403, code="operator_only")
        self.assertError(self.admin("GET", f"/orgs/mine/admin-keys/{adk['id']}", token=tok), 403, code="operator_only")
        self.assertError(self.admin("DELETE", f"/orgs/mine/admin-keys/{adk['id']}", token=tok), 403, code="operator_only")
        self.assertError(self.admin("PATCH", "/orgs/mine", {"plan": "enterprise"}, token=tok), 403, code="field_not_allowed")
        self.assertError(self.admin("PATCH", "/orgs/mine", {"plan": "free"}, token=tok), 403, code="field_not_allowed")
        self.assertError(self.admin("PATCH", "/orgs/mine", {"id": "org_x"}, token=tok), 403, code="field_not_allowed")

        # Limits above the free plan's maximum (0 = unlimited is above any maximum).
        for limits in ({"rpm": 601}, {"tpm": 1000001}, {"concurrency": 51}, {"rpm": 0}, {"tpm": 0}, {"concurrency": 0},
                       {"rpm": 10, "concurrency": 500}):
            with self.subTest(limits=limits):
                self.assertError(self.admin("PATCH", "/orgs/mine/environments/dev", {"limits": limits}, token=tok), 403,
                                 code="limit_above_plan")
                self.assertError(self.admin("POST", "/orgs/mine/environments/dev/keys", {"limits": limits}, token=tok), 403,
                                 code="limit_above_plan")
        self.assertError(self.admin("POST", "/orgs/mine/environments", {"name": "prod", "region": "india", "limits": {"rpm": 601}},
                                    token=tok), 403, code="limit_above_plan")
        self.assertEqual(len(self.audit()), before, "refused calls write no audit entry")
        self.assertEqual(self.admin("GET", "/orgs/mine").json()["plan"], "free")
        self.assertEqual(self.admin("GET", "/orgs/mine/environments/dev").json()["limits"], FREE_MAX)
        self.assertEqual(self.admin("GET", "/orgs/mine/environments/prod").status, 404)

        # The operator is not bound by the plan and may change it.
        r = self.admin("PATCH", "/orgs/mine/environments/dev", {"limits": {"rpm": 0, "tpm": 5000000, "concurrency": 999}})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["limits"], {"rpm": 0, "tpm": 5000000, "concurrency": 999})
        self.assertEqual(self.admin("POST", "/orgs/mine/environments/dev/keys", {"limits": {"rpm": 601}}).status, 201)
        r = self.admin("PATCH", "/orgs/mine", {"plan": "pro"})
        self.assertEqual((r.status, r.json().get("plan")), (200, "pro"), r.body)
        # On the pro plan the admin key may go up to pro's maximum.
        r = self.admin("PATCH", "/orgs/mine/environments/dev", {"limits": {"rpm": 6000}}, token=tok)
        self.assertEqual(r.status, 200, r.body)
        self.assertError(self.admin("PATCH", "/orgs/mine/environments/dev", {"limits": {"rpm": 6001}}, token=tok), 403,
                         code="limit_above_plan")

        # A revoked admin key is no credential.
        self.assertEqual(self.admin("DELETE", f"/orgs/mine/admin-keys/{adk['id']}").status, 200)
        self.assertError(self.admin("GET", "/orgs/mine", token=tok), 401)
        listing = self.admin("GET", "/orgs/mine/admin-keys").json()["data"]
        self.assertEqual([(k["id"], k["state"]) for k in listing], [(adk["id"], "revoked")])
        self.assertNotIn(tok, json.dumps(listing))

    # -- catalog -------------------------------------------------------------------------------
    def test_models_catalog_with_regions(self):
        r = self.admin("GET", "/models")
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["object"], "list")
        models = {m["id"]: m for m in body["data"]}
        self.assertEqual(set(models), {CHAT, CHAT2, EMBED, ORPHAN})
        self.assertEqual(models[CHAT], {"id": CHAT, "object": "model", "family": "llama", "kind": "chat",
                                        "context_length": 8192, "regions": ["india"]})
        self.assertEqual(models[EMBED]["kind"], "embedding")
        self.assertEqual(models[EMBED]["context_length"], 512)
        self.assertEqual(models[ORPHAN]["regions"], [], "served by no node")
        self.assertEqual(self.admin("POST", "/models", {}).status, 405)
        self.assertEqual(self.admin("GET", "/nothing-here").status, 404)


AdminApiPostgresTest = postgres_variant(AdminApiTest, "cic_admin_api")


if __name__ == "__main__":
    unittest.main()
