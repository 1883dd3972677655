#pragma once
// An org's bill for a month: list-price lines per model and region, a graduated volume discount,
// the plan's free allowance, credits (promotional, then paid) and what is left to pay, plus the
// savings against OpenAI's list prices. Pure and deterministic: integer micro-dollars only, every
// derived amount rounded half-up exactly once (see docs/billing.md "Pricing, credits and
// invoices" for the rules with worked examples).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cic/billing/credits.hpp"
#include "cic/billing/price_book.hpp"

namespace cic::billing {

/// A band of the graduated volume discount: the tokens of the month past `from_tokens` (up to the
/// next band's start) are discounted by `discount_bp` basis points (1/100 of a percent).
struct VolumeTier {
  std::int64_t from_tokens = 0;
  std::int32_t discount_bp = 0;
};

/// 0-10M tokens 0 %, 10M-100M 10 %, 100M-1B 20 %, 1B and up 30 % — marginal (graduated): each
/// band's tokens get that band's rate, so the bill never drops when usage grows.
const std::vector<VolumeTier>& default_volume_tiers();

/// One row of usage: a model served in a region (several rows of the same pair are summed).
struct UsageLine {
  std::string model;
  std::string region;
  std::int64_t requests = 0;
  TokenCounts tokens;
};

struct InvoiceInput {
  std::vector<UsageLine> usage;
  std::int64_t free_tokens = 0;  // the plan's monthly allowance (PlanConfig::monthly_free_tokens)
  std::vector<CreditGrant> credits;  // balances (credit_balances); unusable ones are ignored
  std::int64_t as_of_ms = 0;         // credits expiring at or before this are not used
  std::vector<VolumeTier> tiers = default_volume_tiers();  // ascending from_tokens, first from 0
};

struct InvoiceLine {
  std::string model;
  std::string region;
  std::int64_t requests = 0;
  TokenCounts tokens;
  std::optional<TokenPrices> prices;  // none: an unpriced model (free, not billable tokens)
  std::int64_t list_micros = 0;       // tokens at `prices`, rounded half-up
  std::optional<TokenPrices> reference;  // OpenAI list price, if configured
  std::string reference_model;
  std::int64_t reference_micros = 0;  // tokens at `reference`, rounded half-up; 0 without one
};

struct TierUsage {
  VolumeTier tier;
  std::optional<std::int64_t> to_tokens;  // the next band's start; none for the last band
  std::int64_t tokens = 0;                // billable tokens of the month in this band
};

struct CreditApplication {
  std::string credit_id;
  CreditKind kind = CreditKind::kPromotional;
  std::int64_t amount_micros = 0;
  std::optional<std::int64_t> expires_at;
};

struct Invoice {
  std::vector<InvoiceLine> lines;      // ordered by model, then region
  std::int64_t billable_tokens = 0;    // tokens of priced lines: what tiers and allowance count
  std::int64_t subtotal_micros = 0;    // sum of the lines' list_micros
  std::vector<TierUsage> tiers;
  std::int64_t discount_micros = 0;    // graduated volume discount
  std::int64_t free_tokens_included = 0;
  std::int64_t free_tokens_used = 0;   // min(allowance, billable tokens): the month's first tokens
  std::int64_t free_allowance_micros = 0;
  std::int64_t usage_after_free_micros = 0;  // subtotal - discount - free allowance
  std::vector<CreditApplication> credits_applied;  // in spending order
  std::int64_t promotional_credits_micros = 0;
  std::int64_t paid_credits_micros = 0;
  std::int64_t amount_due_micros = 0;  // pay-as-you-go: what no allowance or credit covered
  // Savings vs OpenAI list price, over the lines that have a reference price.
  std::int64_t compared_tokens = 0;
  std::int64_t reference_micros = 0;  // those lines at OpenAI's list price
  std::int64_t compared_micros = 0;   // the same lines at our price after the volume discount
  std::int64_t savings_micros = 0;    // reference - compared (negative if we are dearer)
};

/// Computes the invoice. Order: lines at list price; volume discount on the month's billable
/// tokens; the free allowance (the month's first tokens, valued at what they cost after the
/// discount); then credits, promotional before paid, expiring first; the rest is due.
Invoice compute_invoice(const PriceBook& book, const InvoiceInput& input);

}  // namespace cic::billing
