-- cic-control schema, version 6 (SQLite dialect): the credit ledger. Append-only: a row is never
-- updated or deleted; an org's balance is the sum of its rows.
--
-- kind:            signup_bonus | referral | promotional | paid | adjustment (checked by the caller)
-- amount_micros:   > 0 a grant, < 0 a consumption or correction (never 0), integer micro-dollars
-- expires_at:      unix ms after which a grant can no longer be used; NULL = never
-- grant_id:        for a negative row, the grant it draws from; '' for grants
-- idempotency_key: unique per org; a second add with the same key writes nothing

CREATE TABLE credit_ledger (
  id              TEXT PRIMARY KEY,  -- "crd_..."
  org_id          TEXT NOT NULL REFERENCES orgs(id),
  kind            TEXT NOT NULL,
  amount_micros   INTEGER NOT NULL CHECK (amount_micros <> 0),
  expires_at      INTEGER,
  created_at      INTEGER NOT NULL,
  note            TEXT NOT NULL DEFAULT '',
  idempotency_key TEXT NOT NULL,
  grant_id        TEXT NOT NULL DEFAULT '',
  UNIQUE (org_id, idempotency_key)
);
CREATE INDEX credit_ledger_org_idx ON credit_ledger (org_id, created_at);
