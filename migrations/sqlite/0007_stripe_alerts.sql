-- cic-control schema, version 7 (SQLite dialect): Stripe usage reporting, Stripe webhook
-- events and alerts (docs/billing.md, "Stripe and alerts"). Times are unix ms unless named otherwise.

-- The Stripe customer each org's usage is reported to (PUT /admin/v1/orgs/{org}/stripe).
CREATE TABLE stripe_customers (
  org_id      TEXT PRIMARY KEY REFERENCES orgs(id),
  customer_id TEXT NOT NULL,  -- "cus_..."
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX stripe_customers_customer_idx ON stripe_customers (customer_id);

-- Meter events sent to Stripe, one row per (org, hour, seq). A row is written as 'pending' before
-- it is first sent, so every retry repeats the same identifier and value; it becomes 'acked' only
-- after Stripe answered 2xx (or said it already holds the identifier), 'rejected' when Stripe
-- refused it for good. An hour is fully reported when its rows add up to its usage_hourly tokens.
CREATE TABLE stripe_meter_reports (
  identifier  TEXT PRIMARY KEY,  -- cic-<org>-<meter>-<hour start, unix s>[-<seq>]
  org_id      TEXT NOT NULL,
  event_name  TEXT NOT NULL,
  customer_id TEXT NOT NULL,
  hour_start  INTEGER NOT NULL,
  seq         INTEGER NOT NULL,
  value       INTEGER NOT NULL,
  status      TEXT NOT NULL,  -- pending | acked | rejected
  error       TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  acked_at    INTEGER,
  UNIQUE (org_id, hour_start, seq)
);
CREATE INDEX stripe_meter_reports_hour_idx ON stripe_meter_reports (hour_start);

-- Stripe webhook events we keep (invoice.*, payment_intent.*), once per event id.
CREATE TABLE stripe_events (
  id          TEXT PRIMARY KEY,  -- "evt_..."
  type        TEXT NOT NULL,
  customer_id TEXT NOT NULL DEFAULT '',
  object_id   TEXT NOT NULL DEFAULT '',
  created     INTEGER NOT NULL,  -- Stripe's created, unix seconds
  received_at INTEGER NOT NULL,
  payload     TEXT NOT NULL
);
CREATE INDEX stripe_events_received_idx ON stripe_events (received_at);

-- Alerts fire once per (org, subject, kind, period); a row is re-sent until delivered_at is set.
CREATE TABLE alerts_sent (
  id           TEXT PRIMARY KEY,
  org_id       TEXT NOT NULL,
  subject      TEXT NOT NULL,  -- the org id or an environment id
  kind         TEXT NOT NULL,  -- budget_80 | budget_100 | spend_spike | credit_expiring | payment_failed
  period       TEXT NOT NULL,
  payload      TEXT NOT NULL,  -- the exact body delivered
  created_at   INTEGER NOT NULL,
  delivered_at INTEGER,
  attempts     INTEGER NOT NULL DEFAULT 0,
  UNIQUE (org_id, subject, kind, period)
);
CREATE INDEX alerts_sent_undelivered_idx ON alerts_sent (created_at) WHERE delivered_at IS NULL;
