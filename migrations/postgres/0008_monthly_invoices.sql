-- cic-control schema, version 8 (PostgreSQL dialect): closed months (docs/billing.md, "Closing a
-- month"). One row per org and UTC calendar month, written in the same transaction as the credit
-- ledger's consumption rows for that month; the primary key makes a second close of the same
-- month (a retry, another replica) write nothing. Amounts are integer micro-dollars.
CREATE TABLE monthly_invoices (
  org_id                     TEXT NOT NULL REFERENCES orgs(id),
  period_start               BIGINT NOT NULL,  -- unix ms, first instant of the UTC month
  period_end                 BIGINT NOT NULL,  -- unix ms, first instant of the next month
  total_tokens               BIGINT NOT NULL,  -- billable tokens of the month
  subtotal_micros            BIGINT NOT NULL,  -- list price
  discount_micros            BIGINT NOT NULL,  -- volume discount
  free_allowance_micros      BIGINT NOT NULL,  -- the plan's free tokens
  promotional_credits_micros BIGINT NOT NULL,
  paid_credits_micros        BIGINT NOT NULL,
  amount_due_micros          BIGINT NOT NULL,  -- pay-as-you-go
  closed_at                  BIGINT NOT NULL,
  PRIMARY KEY (org_id, period_start)
);
