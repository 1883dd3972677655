-- cic-control schema, version 8 (SQLite dialect): closed months (docs/billing.md, "Closing a
-- month"). One row per org and UTC calendar month, written in the same transaction as the credit
-- ledger's consumption rows for that month; the primary key makes a second close of the same
-- month (a retry, another replica) write nothing. Amounts are integer micro-dollars.
CREATE TABLE monthly_invoices (
  org_id                     TEXT NOT NULL REFERENCES orgs(id),
  period_start               INTEGER NOT NULL,  -- unix ms, first instant of the UTC month
  period_end                 INTEGER NOT NULL,  -- unix ms, first instant of the next month
  total_tokens               INTEGER NOT NULL,  -- billable tokens of the month
  subtotal_micros            INTEGER NOT NULL,  -- list price
  discount_micros            INTEGER NOT NULL,  -- volume discount
  free_allowance_micros      INTEGER NOT NULL,  -- the plan's free tokens
  promotional_credits_micros INTEGER NOT NULL,
  paid_credits_micros        INTEGER NOT NULL,
  amount_due_micros          INTEGER NOT NULL,  -- pay-as-you-go
  closed_at                  INTEGER NOT NULL,
  PRIMARY KEY (org_id, period_start)
);
