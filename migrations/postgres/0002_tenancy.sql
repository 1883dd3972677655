-- cic-control schema, version 2 (PostgreSQL dialect): org/environment lifecycle (soft delete,
-- spend cap, data residency), key rotation, org admin keys and the audit log.

ALTER TABLE orgs
  ADD COLUMN monthly_spend_cap_micros BIGINT NOT NULL DEFAULT 0,  -- 0 = no cap
  ADD COLUMN updated_at BIGINT,
  ADD COLUMN deleted_at BIGINT;
UPDATE orgs SET updated_at = created_at;
ALTER TABLE orgs ALTER COLUMN updated_at SET NOT NULL;
-- A deleted org's name may be taken again: unique among live orgs only.
ALTER TABLE orgs DROP CONSTRAINT orgs_name_key;
CREATE UNIQUE INDEX orgs_live_name_idx ON orgs (name) WHERE deleted_at IS NULL;

ALTER TABLE environments
  ADD COLUMN data_residency TEXT NOT NULL DEFAULT 'flexible',
  ADD COLUMN deleted_at BIGINT;
ALTER TABLE environments DROP CONSTRAINT environments_org_id_name_key;
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
  created_at   BIGINT NOT NULL,
  revoked_at   BIGINT,
  last_used_at BIGINT
);
CREATE INDEX admin_keys_org_idx ON admin_keys (org_id);

-- No foreign keys: the trail must outlive whatever it describes. before/after are JSON (not
-- JSONB): validated, yet kept byte for byte as the admin API wrote them.
CREATE TABLE audit_log (
  id          TEXT PRIMARY KEY,  -- "aud_" + 12 hex ms + 8 hex: sorts by time
  at          BIGINT NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  target_type TEXT NOT NULL DEFAULT '',
  target_id   TEXT NOT NULL DEFAULT '',
  org_id      TEXT NOT NULL DEFAULT '',
  request_id  TEXT NOT NULL DEFAULT '',
  before_json JSON NOT NULL DEFAULT 'null',
  after_json  JSON NOT NULL DEFAULT 'null'
);
CREATE INDEX audit_log_org_at_idx ON audit_log (org_id, at);
CREATE INDEX audit_log_at_idx ON audit_log (at);
