-- cic-control schema, version 1 (SQLite dialect). Times are Unix milliseconds (INTEGER), money is
-- integer micro-dollars, JSON lives in TEXT columns checked with json_valid(). schema_migrations is
-- created by the store itself before any migration runs, so it is not repeated here.

CREATE TABLE orgs (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  email      TEXT NOT NULL DEFAULT '',
  plan       TEXT NOT NULL DEFAULT 'free',
  created_at INTEGER NOT NULL
);

CREATE TABLE environments (
  id                       TEXT PRIMARY KEY,
  org_id                   TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name                     TEXT NOT NULL,
  region                   TEXT NOT NULL DEFAULT '',
  models                   TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(models)),
  monthly_token_quota      INTEGER NOT NULL DEFAULT 0,  -- 0 = unlimited
  monthly_spend_cap_micros INTEGER NOT NULL DEFAULT 0,  -- 0 = unlimited
  limits                   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(limits)),
  created_at               INTEGER NOT NULL,
  updated_at               INTEGER NOT NULL,
  UNIQUE (org_id, name)
);

CREATE TABLE api_keys (
  id             TEXT PRIMARY KEY,
  org_id         TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  name           TEXT NOT NULL DEFAULT '',
  prefix         TEXT NOT NULL,
  hash           TEXT NOT NULL,
  limits         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(limits)),
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER,
  revoked_at     INTEGER,
  last_used_at   INTEGER
);
-- Unique, and the index every authenticated request looks its key up by.
CREATE UNIQUE INDEX api_keys_hash_idx ON api_keys (hash);
CREATE INDEX api_keys_environment_idx ON api_keys (environment_id);

CREATE TABLE models (
  id             TEXT PRIMARY KEY,
  family         TEXT NOT NULL DEFAULT '',
  kind           TEXT NOT NULL DEFAULT 'chat',
  context_length INTEGER NOT NULL DEFAULT 0,
  created_at     INTEGER NOT NULL
);

CREATE TABLE nodes (
  id                      TEXT PRIMARY KEY,
  provider                TEXT NOT NULL DEFAULT '',
  region                  TEXT NOT NULL DEFAULT '',
  instance_type           TEXT NOT NULL DEFAULT '',
  models                  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(models)),
  endpoint                TEXT NOT NULL DEFAULT '',
  spot                    INTEGER NOT NULL DEFAULT 0,
  price_per_hour_micros   INTEGER NOT NULL DEFAULT 0,
  capacity_tokens_per_sec INTEGER NOT NULL DEFAULT 0,
  state                   TEXT NOT NULL DEFAULT 'launching',
  updated_at              INTEGER NOT NULL
);

-- No foreign keys: usage is written in bulk from the write-ahead log and must never be refused
-- because a key or environment was deleted in between.
CREATE TABLE usage_records (
  request_id        TEXT PRIMARY KEY,
  org_id            TEXT NOT NULL,
  environment_id    TEXT NOT NULL,
  api_key_id        TEXT NOT NULL,
  model             TEXT NOT NULL,
  region            TEXT NOT NULL DEFAULT '',
  node_id           TEXT NOT NULL DEFAULT '',
  endpoint          TEXT NOT NULL,
  prompt_tokens     INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  cached_tokens     INTEGER NOT NULL DEFAULT 0,
  latency_ms        INTEGER NOT NULL DEFAULT 0,
  ttft_ms           INTEGER NOT NULL DEFAULT 0,
  status            INTEGER NOT NULL,
  streamed          INTEGER NOT NULL DEFAULT 0,
  cancelled         INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL
);
CREATE INDEX usage_records_created_idx ON usage_records (created_at);
CREATE INDEX usage_records_org_created_idx ON usage_records (org_id, created_at);
