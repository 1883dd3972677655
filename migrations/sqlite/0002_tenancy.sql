-- cic-control schema, version 2 (SQLite dialect): org/environment lifecycle (soft delete, spend cap,
-- data residency), key rotation, org admin keys and the audit log.
--
-- SQLite cannot drop the inline UNIQUE constraints of version 1, so orgs and environments are
-- rebuilt (create new, copy, drop old, rename) as sqlite.org's ALTER TABLE page prescribes. The
-- store runs migrations with PRAGMA foreign_keys=OFF (otherwise DROP TABLE orgs would cascade into
-- environments and api_keys) and checks PRAGMA foreign_key_check before committing.

CREATE TABLE orgs_v2 (
  id                       TEXT PRIMARY KEY,
  name                     TEXT NOT NULL,
  email                    TEXT NOT NULL DEFAULT '',
  plan                     TEXT NOT NULL DEFAULT 'free',
  monthly_spend_cap_micros INTEGER NOT NULL DEFAULT 0,  -- 0 = no cap
  created_at               INTEGER NOT NULL,
  updated_at               INTEGER NOT NULL,
  deleted_at               INTEGER
);
INSERT INTO orgs_v2 (id, name, email, plan, created_at, updated_at)
  SELECT id, name, email, plan, created_at, created_at FROM orgs;
DROP TABLE orgs;
ALTER TABLE orgs_v2 RENAME TO orgs;
-- A deleted org's name may be taken again.
CREATE UNIQUE INDEX orgs_live_name_idx ON orgs (name) WHERE deleted_at IS NULL;

CREATE TABLE environments_v2 (
  id                       TEXT PRIMARY KEY,
  org_id                   TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name                     TEXT NOT NULL,
  region                   TEXT NOT NULL DEFAULT '',
  models                   TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(models)),
  monthly_token_quota      INTEGER NOT NULL DEFAULT 0,  -- 0 = unlimited
  monthly_spend_cap_micros INTEGER NOT NULL DEFAULT 0,  -- 0 = unlimited
  limits                   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(limits)),
  data_residency           TEXT NOT NULL DEFAULT 'flexible',
  created_at               INTEGER NOT NULL,
  updated_at               INTEGER NOT NULL,
  deleted_at               INTEGER
);
INSERT INTO environments_v2 (id, org_id, name, region, models, monthly_token_quota,
                             monthly_spend_cap_micros, limits, created_at, updated_at)
  SELECT id, org_id, name, region, models, monthly_token_quota, monthly_spend_cap_micros, limits,
         created_at, updated_at FROM environments;
DROP TABLE environments;
ALTER TABLE environments_v2 RENAME TO environments;
CREATE UNIQUE INDEX environments_live_name_idx ON environments (org_id, name)
  WHERE deleted_at IS NULL;

ALTER TABLE api_keys ADD COLUMN replaced_by TEXT NOT NULL DEFAULT '';
-- delete_org revokes every key of an org.
CREATE INDEX api_keys_org_idx ON api_keys (org_id);

CREATE TABLE admin_keys (
  id           TEXT PRIMARY KEY,
  org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name         TEXT NOT NULL DEFAULT '',
  prefix       TEXT NOT NULL,
  hash         TEXT NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  revoked_at   INTEGER,
  last_used_at INTEGER
);
CREATE INDEX admin_keys_org_idx ON admin_keys (org_id);

-- No foreign keys: the trail must outlive whatever it describes.
CREATE TABLE audit_log (
  id          TEXT PRIMARY KEY,  -- "aud_" + 12 hex ms + 8 hex: sorts by time
  at          INTEGER NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  target_type TEXT NOT NULL DEFAULT '',
  target_id   TEXT NOT NULL DEFAULT '',
  org_id      TEXT NOT NULL DEFAULT '',
  request_id  TEXT NOT NULL DEFAULT '',
  before_json TEXT NOT NULL DEFAULT 'null' CHECK (json_valid(before_json)),
  after_json  TEXT NOT NULL DEFAULT 'null' CHECK (json_valid(after_json))
);
CREATE INDEX audit_log_org_at_idx ON audit_log (org_id, at);
CREATE INDEX audit_log_at_idx ON audit_log (at);
