"""Tenant isolation, generated: every admin endpoint and method, aimed at another org's resources
(by id and by name), with every kind of credential that must not reach them; and the pinned client
paths /{org}/{env}/{model}/v1/... with foreign orgs, environments and models. Each case must answer
exactly the expected 401, 403 or 404 -- never 2xx, never 5xx. Runs on SQLite and on PostgreSQL.

Afterwards nothing may have changed (the audit log has no new entry, the victims' keys still work),
and no secret the API issued (API keys, admin keys, the operator token) may appear in any log file
or in a dump of the database.
"""
import unittest

from admin_fixture import NO_POSTGRES, POSTGRES_DSN, AdminEnv, PgDatabase
from gateway_fixture import CHAT, CHAT2, EMBED, chat

BAD_KEY = "sk_admin_" + "Zz9" * 15 + "q"  # the shape, but a wrong checksum


class Tenants:
    """Two orgs A and B set up alike, plus the credentials of every kind."""

    def __init__(self, env):
        self.env = env
        self.orgs = {}
        for tag in ("A", "B"):
            org = env.create_org(f"tenant{tag.lower()}")
            dev = env.create_env(org["id"], name="dev", models=[CHAT, EMBED])
            staging = env.create_env(org["id"], name="staging", region="apac")
            key = env.create_key(org["id"], dev["id"], name="dev-key")
            staging_key = env.create_key(org["id"], staging["id"], name="staging-key")
            adk = env.create_admin_key(org["id"], name="org-admin")
            self.orgs[tag] = {"org": org, "dev": dev, "staging": staging, "key": key, "staging_key": staging_key, "adk": adk}
        # An admin key that was revoked, and one whose org was deleted.
        revoked = env.create_admin_key(self.orgs["A"]["org"]["id"], name="revoked")
        assert env.admin("DELETE", f"/orgs/{self.orgs['A']['org']['id']}/admin-keys/{revoked['id']}").status == 200
        gone = env.create_org("tenantgone")
        gone_adk = env.create_admin_key(gone["id"])
        gone_env = env.create_env(gone["id"])
        gone_key = env.create_key(gone["id"], gone_env["id"])
        assert env.admin("DELETE", f"/orgs/{gone['id']}").status == 200
        revoked_api = env.create_key(self.orgs["A"]["org"]["id"], self.orgs["A"]["dev"]["id"], name="revoked")
        assert env.admin("DELETE", f"/orgs/tenanta/environments/dev/keys/{revoked_api['id']}").status == 200
        self.revoked_api_key = revoked_api["key"]
        self.gone_api_key = gone_key["key"]
        # Credential kinds for the admin API: (label, kwargs for Replica.admin, actor org or None).
        self.unauthenticated = [
            ("no credential", dict(auth=False)),
            ("malformed header", dict(auth=False, headers={"Authorization": "Token " + env.operator_token})),
            ("bad token", dict(token="not-the-operator-token-0123456789")),
            ("bad-checksum admin key", dict(token=BAD_KEY)),
            ("revoked admin key", dict(token=revoked["key"])),
            ("deleted org's admin key", dict(token=gone_adk["key"])),
            ("client API key of A", dict(token=self.orgs["A"]["key"]["key"])),
            ("client API key of B", dict(token=self.orgs["B"]["key"]["key"])),
        ]

    def refs(self, tag):
        """(label, org ref, env ref) for both spellings of org and environment."""
        o = self.orgs[tag]
        out = []
        for org_label, org_ref in (("org id", o["org"]["id"]), ("org name", o["org"]["name"])):
            for env_label, env_ref in (("env id", o["dev"]["id"]), ("env name", "dev")):
                out.append((f"{org_label}/{env_label}", org_ref, env_ref))
        return out


def admin_targets(t, victim, actor):
    """(label, method, path, body) for every admin endpoint x method, aimed at `victim`'s
    resources, plus paths mixing `actor`'s own org with `victim`'s ids. Bodies are valid, so a
    missing check would really change something."""
    v = t.orgs[victim]
    own = t.orgs[actor]
    key_id, adk_id = v["key"]["id"], v["adk"]["id"]
    out = []
    for org_label, org_ref in (("org id", v["org"]["id"]), ("org name", v["org"]["name"])):
        base = f"/orgs/{org_ref}"
        out += [
            (f"org {org_label}", "GET", base, None),
            (f"org {org_label}", "PATCH", base, {"email": "pwned@evil.example"}),
            (f"org {org_label}", "DELETE", base, None),
            (f"envs {org_label}", "GET", f"{base}/environments", None),
            (f"envs {org_label}", "POST", f"{base}/environments", {"name": "prod", "region": "india"}),
            (f"admin-keys {org_label}", "GET", f"{base}/admin-keys", None),
            (f"admin-keys {org_label}", "POST", f"{base}/admin-keys", {"name": "evil"}),
            (f"admin-key {org_label}", "GET", f"{base}/admin-keys/{adk_id}", None),
            (f"admin-key {org_label}", "DELETE", f"{base}/admin-keys/{adk_id}", None),
            (f"audit {org_label}", "GET", f"/audit?org={org_ref}", None),
        ]
    for label, org_ref, env_ref in t.refs(victim):
        env_path = f"/orgs/{org_ref}/environments/{env_ref}"
        out += [
            (f"env {label}", "GET", env_path, None),
            (f"env {label}", "PATCH", env_path, {"models": [CHAT2]}),
            (f"env {label}", "DELETE", env_path, None),
            (f"keys {label}", "GET", f"{env_path}/keys", None),
            (f"keys {label}", "POST", f"{env_path}/keys", {"name": "evil"}),
            (f"key {label}", "GET", f"{env_path}/keys/{key_id}", None),
            (f"key {label}", "DELETE", f"{env_path}/keys/{key_id}", None),
            (f"rotate {label}", "POST", f"{env_path}/keys/{key_id}/rotate", {"grace_period_seconds": 0}),
        ]
    # The actor's own org, with the victim's environment or key ids.
    for org_label, org_ref in (("own org id", own["org"]["id"]), ("own org name", own["org"]["name"])):
        env_path = f"/orgs/{org_ref}/environments/{v['dev']['id']}"
        own_env = f"/orgs/{org_ref}/environments/dev"
        out += [
            (f"foreign env in {org_label}", "GET", env_path, None),
            (f"foreign env in {org_label}", "PATCH", env_path, {"models": [CHAT2]}),
            (f"foreign env in {org_label}", "DELETE", env_path, None),
            (f"foreign env keys in {org_label}", "GET", f"{env_path}/keys", None),
            (f"foreign env keys in {org_label}", "POST", f"{env_path}/keys", {}),
            (f"foreign key in {org_label}", "GET", f"{own_env}/keys/{key_id}", None),
            (f"foreign key in {org_label}", "DELETE", f"{own_env}/keys/{key_id}", None),
            (f"foreign key in {org_label}", "POST", f"{own_env}/keys/{key_id}/rotate", {}),
            (f"foreign staging key in {org_label}", "DELETE", f"{own_env}/keys/{v['staging_key']['id']}", None),
        ]
    return out


def operator_only_targets(t, actor):
    """Operator-only actions inside the actor's own org: 403 operator_only (or field_not_allowed)."""
    own = t.orgs[actor]
    out = [("create org", "POST", "/orgs", {"name": "evilcorp", "email": "e@evil.example"}, "operator_only")]
    for org_label, org_ref in (("org id", own["org"]["id"]), ("org name", own["org"]["name"])):
        base = f"/orgs/{org_ref}"
        out += [
            (f"delete own org by {org_label}", "DELETE", base, None, "operator_only"),
            (f"list admin keys by {org_label}", "GET", f"{base}/admin-keys", None, "operator_only"),
            (f"create admin key by {org_label}", "POST", f"{base}/admin-keys", {"name": "more"}, "operator_only"),
            (f"read own admin key by {org_label}", "GET", f"{base}/admin-keys/{own['adk']['id']}", None, "operator_only"),
            (f"revoke own admin key by {org_label}", "DELETE", f"{base}/admin-keys/{own['adk']['id']}", None, "operator_only"),
            (f"change plan by {org_label}", "PATCH", base, {"plan": "enterprise"}, "field_not_allowed"),
            (f"change id by {org_label}", "PATCH", base, {"id": "org_mine"}, "field_not_allowed"),
            (f"limits above plan by {org_label}", "PATCH", f"{base}/environments/dev", {"limits": {"rpm": 601}}, "limit_above_plan"),
            (f"unlimited by {org_label}", "POST", f"{base}/environments/dev/keys", {"limits": {"concurrency": 0}}, "limit_above_plan"),
        ]
    return out


def every_admin_target(t):
    """All targets, for the unauthenticated credential kinds (operator-level paths included)."""
    out = [("list orgs", "GET", "/orgs", None), ("create org", "POST", "/orgs", {"name": "anon", "email": "a@b.c"}),
           ("models", "GET", "/models", None), ("audit", "GET", "/audit", None)]
    for victim, actor in (("A", "B"), ("B", "A")):
        out += admin_targets(t, victim, actor)
    return out


def client_cases(t):
    """(label, key, path, expected status, expected code): pinned client paths with foreign parts."""
    out = []
    for holder in ("A", "B"):
        h = t.orgs[holder]
        other = t.orgs["B" if holder == "A" else "A"]
        key = h["key"]["key"]
        orgs = [("own org id", h["org"]["id"], True), ("own org name", h["org"]["name"], True),
                ("foreign org id", other["org"]["id"], False), ("foreign org name", other["org"]["name"], False),
                ("unknown org", "no-such-org", False), ("deleted org", "tenantgone", False)]
        envs = [("own env id", h["dev"]["id"], True), ("own env name", "dev", True),
                ("own org's staging by name", "staging", False), ("own org's staging by id", h["staging"]["id"], False),
                ("foreign env id", other["dev"]["id"], False)]
        # dev environments enable CHAT and EMBED only.
        models = [("enabled model", CHAT, None), ("model not enabled", CHAT2, (403, "model_not_enabled")),
                  ("unknown model", "no-such-model", (404, None))]
        for org_label, org_ref, org_ok in orgs:
            for env_label, env_ref, env_ok in envs:
                for model_label, model, model_err in models:
                    if not org_ok:
                        expected = (403, "wrong_organization")
                    elif not env_ok:
                        expected = (403, "wrong_environment")
                    elif model_err:
                        expected = model_err
                    else:
                        expected = (200, None)  # a positive control: the generator is not vacuous
                    out.append((f"key of {holder}: {org_label}, {env_label}, {model_label}", key,
                                f"/{org_ref}/{env_ref}/{model}/v1/chat/completions", expected))
    # Keys that are no keys, on B's own paths.
    b = t.orgs["B"]
    path = f"/{b['org']['name']}/dev/{CHAT}/v1/chat/completions"
    for label, key in (("no key", None), ("revoked key", t.revoked_api_key), ("deleted org's key", t.gone_api_key),
                       ("admin key of B", b["adk"]["key"]), ("operator token", t.env.operator_token),
                       ("bad-checksum key", "sk_dev_" + "Zz9" * 15 + "q")):
        for p in (path, f"/{b['org']['id']}/{b['dev']['id']}/{CHAT}/v1/chat/completions", "/v1/chat/completions"):
            out.append((f"{label} on {p}", key, p, (401, None)))
    # A staging key on the dev path and vice versa.
    a = t.orgs["A"]
    out.append(("staging key on dev path", a["staging_key"]["key"], f"/tenanta/dev/{CHAT}/v1/chat/completions",
                (403, "wrong_environment")))
    out.append(("dev key on staging path", a["key"]["key"], f"/tenanta/staging/{CHAT}/v1/chat/completions",
                (403, "wrong_environment")))
    return out


class IsolationCases:
    """Mixed into one TestCase per backend."""

    backend = None

    def make_env(self):
        raise NotImplementedError

    def setUp(self):
        self.env = self.make_env()
        self.env.log_level = "trace"  # the most a log could give away
        self.addCleanup(self.env.stop)
        self.env.start_node("n1", CHAT)
        self.replica = self.env.start_replica()
        self.tenants = Tenants(self.env)

    def audit_ids(self):
        ids, after = [], None
        while True:
            r = self.env.admin("GET", "/audit?limit=100" + (f"&after={after}" if after else ""))
            self.assertEqual(r.status, 200, r.body)
            body = r.json()
            ids += [e["id"] for e in body["data"]]
            if not body["has_more"]:
                return ids
            after = body["next_after"]

    def check(self, failures, label, r, status, code=None):
        ok = r.status == status
        if ok and status >= 400:
            try:
                err = r.json()["error"]
                ok = set(err) == {"message", "type", "param", "code"} and (code is None or err["code"] == code)
            except (ValueError, KeyError, TypeError):
                ok = False
        if not ok:
            failures.append(f"{label}: expected {status} {code or ''}, got {r.status} {r.body[:160]!r}")

    def test_isolation(self):
        t = self.tenants
        env = self.env
        audit_before = self.audit_ids()
        failures, counts = [], {"admin": 0, "operator_only": 0, "unauthenticated": 0, "client": 0, "control": 0}

        # 1. An org admin key against the other org's resources: 404, as if they did not exist.
        for actor, victim in (("A", "B"), ("B", "A")):
            token = t.orgs[actor]["adk"]["key"]
            for label, method, path, body in admin_targets(t, victim, actor):
                r = self.replica.admin(method, path, body, token=token)
                self.check(failures, f"admin {actor} -> {victim} {label}: {method} {path}", r, 404)
                counts["admin"] += 1
            # ... and the same answer as for something that really does not exist.
            r = self.replica.admin("GET", "/orgs/no-such-org", token=token)
            self.check(failures, f"admin {actor}: unknown org", r, 404)
            counts["admin"] += 1

        # 2. Operator-only actions and forbidden fields inside its own org: 403.
        for actor in ("A", "B"):
            token = t.orgs[actor]["adk"]["key"]
            for label, method, path, body, code in operator_only_targets(t, actor):
                r = self.replica.admin(method, path, body, token=token)
                self.check(failures, f"admin {actor}: {label}: {method} {path}", r, 403, code)
                counts["operator_only"] += 1

        # 3. No admin credential at all, or one that is not (any longer) valid: 401 everywhere.
        for cred_label, kwargs in t.unauthenticated:
            for label, method, path, body in every_admin_target(t):
                r = self.replica.admin(method, path, body, **kwargs)
                self.check(failures, f"{cred_label}: {label}: {method} {path}", r, 401)
                counts["unauthenticated"] += 1

        # 4. Client API: pinned paths with foreign orgs, environments and models.
        for label, key, path, (status, code) in client_cases(t):
            r = self.replica.client(key, path=path, body={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
            self.check(failures, f"client {label}: {path}", r, status, code)
            counts["control" if status == 200 else "client"] += 1

        total = counts["admin"] + counts["operator_only"] + counts["unauthenticated"] + counts["client"]
        print(f"\n[{self.backend}] isolation cases: {total} denied-access cases "
              f"(admin-key cross-org {counts['admin']}, operator-only {counts['operator_only']}, "
              f"unauthenticated {counts['unauthenticated']}, client paths {counts['client']}) "
              f"+ {counts['control']} positive controls", flush=True)
        self.assertGreaterEqual(total, 200)
        self.assertFalse(failures, f"{len(failures)} of {total} cases failed:\n" + "\n".join(failures[:60]))

        # Nothing changed: no audit entry, both orgs intact, every victim key still works.
        self.assertEqual(self.audit_ids(), audit_before, "refused calls must not write audit entries")
        for tag in ("A", "B"):
            o = t.orgs[tag]
            got = env.admin("GET", f"/orgs/{o['org']['id']}").json()
            self.assertEqual(got, o["org"])
            dev = env.admin("GET", f"/orgs/{o['org']['id']}/environments/dev").json()
            self.assertEqual(dev["models"], [CHAT, EMBED])
            names = sorted(e["name"] for e in env.admin("GET", f"/orgs/{o['org']['id']}/environments").json()["data"])
            self.assertEqual(names, ["dev", "staging"])
            keys = env.admin("GET", f"/orgs/{o['org']['id']}/environments/dev/keys").json()["data"]
            self.assertEqual([(k["id"], k["state"]) for k in keys if k["id"] == o["key"]["id"]], [(o["key"]["id"], "active")])
            self.assertEqual(len(env.admin("GET", f"/orgs/{o['org']['id']}/admin-keys").json()["data"]), 1 if tag == "B" else 2)
            r = self.replica.client(o["key"]["key"], body=chat(max_tokens=2))
            self.assertEqual(r.status, 200, r.body)
            r = self.replica.admin("GET", f"/orgs/{o['org']['id']}", token=o["adk"]["key"])
            self.assertEqual(r.status, 200, r.body)
        orgs = {o["name"] for o in env.admin("GET", "/orgs?limit=100").json()["data"]}
        self.assertFalse({"evilcorp", "anon"} & orgs)

        self.check_no_secret_leaks()

    def database_dump(self):
        raise NotImplementedError

    def check_no_secret_leaks(self):
        env = self.env
        issued = env.all_secrets()
        # Two per org, the two extra orgs' keys, revoked keys, the bootstrap key, the operator token.
        self.assertGreaterEqual(len(issued), 12)
        dumps = {"database dump": self.database_dump()}
        dumps.update(env.log_texts())
        self.assertTrue(any(name.startswith("cic-control") for name in dumps), list(dumps))
        leaks = []
        for where, text in dumps.items():
            for secret in issued:
                # The whole secret, and its random part (the prefix shown in listings is 4 chars of it).
                body = secret.split("_", 2)[-1] if secret.startswith("sk_") else secret
                if secret in text or body in text or body[8:] in text:
                    leaks.append(f"{secret[:12]}... in {where}")
        self.assertFalse(leaks, "secrets leaked:\n" + "\n".join(leaks))
        print(f"[{self.backend}] checked {len(issued)} secrets against the database dump "
              f"({len(dumps['database dump'])} chars) and {len(dumps) - 1} log files", flush=True)


class SqliteIsolationTest(IsolationCases, unittest.TestCase):
    backend = "sqlite"

    def make_env(self):
        return AdminEnv()

    def database_dump(self):
        text = self.env.sqlite_dump()
        self.assertIn("CREATE TABLE", text)
        raw = self.env.sqlite_raw_bytes()
        for secret in self.env.all_secrets():
            self.assertNotIn(secret.encode(), raw, "a secret is in the SQLite file's bytes")
        return text


@unittest.skipUnless(POSTGRES_DSN, NO_POSTGRES)
class PostgresIsolationTest(IsolationCases, unittest.TestCase):
    backend = "postgres"

    def make_env(self):
        self.db = PgDatabase("cic_iso")
        env = AdminEnv(backend="postgres", dsn=self.db.dsn)
        self.addCleanup(self.db.drop)  # runs after env.stop (cleanups are LIFO)
        return env

    def database_dump(self):
        text = self.db.dump()
        self.assertIn("CREATE TABLE", text)
        self.assertIn("api_keys", text)
        return text


if __name__ == "__main__":
    unittest.main()
