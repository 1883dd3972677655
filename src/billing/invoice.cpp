#include "cic/billing/invoice.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace cic::billing {

namespace {

constexpr std::int64_t kWholeBp = 10'000;  // 100 % in basis points

std::vector<InvoiceLine> priced_lines(const PriceBook& book, const std::vector<UsageLine>& usage) {
  std::map<std::pair<std::string, std::string>, UsageLine> merged;
  for (const auto& u : usage) {
    UsageLine& m = merged[{u.model, u.region}];
    m.requests += u.requests;
    m.tokens += u.tokens;
  }
  std::vector<InvoiceLine> lines;
  for (auto& [key, u] : merged) {
    InvoiceLine line;
    line.model = key.first;
    line.region = key.second;
    line.requests = u.requests;
    line.tokens = u.tokens;
    line.prices = book.price(line.model, line.region);
    if (line.prices) line.list_micros = cost_micros(*line.prices, line.tokens);
    line.reference = book.reference(line.model);
    if (line.reference) {
      line.reference_model = book.reference_model(line.model);
      line.reference_micros = cost_micros(*line.reference, line.tokens);
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

std::int64_t billable(const TokenCounts& t) {
  return std::max<std::int64_t>(t.prompt, 0) + std::max<std::int64_t>(t.completion, 0);
}

// How many of the first `count` tokens of the month fall in [lo, hi).
std::int64_t in_band(std::int64_t count, std::int64_t lo, std::optional<std::int64_t> hi) {
  const std::int64_t top = hi ? std::min(count, *hi) : count;
  return std::max<std::int64_t>(0, top - lo);
}

void apply_credits(const InvoiceInput& input, Invoice& inv) {
  std::int64_t open = inv.usage_after_free_micros;
  for (const CreditGrant& g : spending_order(input.credits, input.as_of_ms)) {
    if (open == 0) break;
    const std::int64_t take = std::min(open, g.remaining_micros);
    inv.credits_applied.push_back(CreditApplication{g.id, g.kind, take, g.expires_at});
    (is_promotional(g.kind) ? inv.promotional_credits_micros : inv.paid_credits_micros) += take;
    open -= take;
  }
  inv.amount_due_micros = open;
}

}  // namespace

const std::vector<VolumeTier>& default_volume_tiers() {
  static const std::vector<VolumeTier> kTiers = {
      {0, 0},
      {10'000'000, 1'000},
      {100'000'000, 2'000},
      {1'000'000'000, 3'000},
  };
  return kTiers;
}

Invoice compute_invoice(const PriceBook& book, const InvoiceInput& input) {
  Invoice inv;
  inv.lines = priced_lines(book, input.usage);
  for (const auto& line : inv.lines) {
    if (!line.prices) continue;  // unpriced models are free: no allowance, no tier position
    inv.billable_tokens += billable(line.tokens);
    inv.subtotal_micros += line.list_micros;
  }
  const std::int64_t total = inv.billable_tokens;
  inv.free_tokens_included = std::max<std::int64_t>(input.free_tokens, 0);
  inv.free_tokens_used = std::min(inv.free_tokens_included, total);

  // Graduated bands. The month's cost is spread evenly over its tokens (subtotal / total per
  // token); the k-th token is discounted by its band's rate, and the allowance covers the first
  // tokens at what they cost after that discount. In basis-point-tokens:
  //   discounted = sum of rate(k) over all tokens,
  //   free       = sum of (100 % - rate(k)) over the first free_tokens_used tokens.
  std::vector<VolumeTier> tiers = input.tiers;
  std::stable_sort(tiers.begin(), tiers.end(), [](const auto& a, const auto& b) { return a.from_tokens < b.from_tokens; });
  __int128 discounted_bp = 0;
  __int128 free_bp = static_cast<__int128>(inv.free_tokens_used) * kWholeBp;
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    std::optional<std::int64_t> hi;
    if (i + 1 < tiers.size()) hi = tiers[i + 1].from_tokens;
    const std::int64_t tokens = in_band(total, tiers[i].from_tokens, hi);
    inv.tiers.push_back(TierUsage{tiers[i], hi, tokens});
    discounted_bp += static_cast<__int128>(tokens) * tiers[i].discount_bp;
    free_bp -= static_cast<__int128>(in_band(inv.free_tokens_used, tiers[i].from_tokens, hi)) * tiers[i].discount_bp;
  }
  if (total > 0) {
    const __int128 whole = static_cast<__int128>(total) * kWholeBp;
    inv.discount_micros = div_round_half_up(inv.subtotal_micros * discounted_bp, whole);
    // Rounded as one cumulative amount, so a month that is entirely free comes to exactly 0.
    const std::int64_t discount_and_free =
        div_round_half_up(inv.subtotal_micros * (discounted_bp + free_bp), whole);
    inv.free_allowance_micros = discount_and_free - inv.discount_micros;
  }
  inv.usage_after_free_micros = inv.subtotal_micros - inv.discount_micros - inv.free_allowance_micros;
  apply_credits(input, inv);

  std::int64_t covered_list = 0;
  for (const auto& line : inv.lines) {
    if (!line.prices || !line.reference) continue;
    inv.compared_tokens += billable(line.tokens);
    inv.reference_micros += line.reference_micros;
    covered_list += line.list_micros;
  }
  inv.compared_micros = covered_list;
  if (total > 0) {
    inv.compared_micros -= div_round_half_up(static_cast<__int128>(covered_list) * discounted_bp,
                                             static_cast<__int128>(total) * kWholeBp);
  }
  inv.savings_micros = inv.reference_micros - inv.compared_micros;
  return inv;
}

}  // namespace cic::billing
