// GET /admin/v1/orgs/{org}/invoice-preview: the bill of the current UTC month so far — lines at
// list price per model and region, the volume discount, the plan's free allowance, the credits
// it would use, the amount due and the savings against OpenAI's list prices. Reads only: no
// credit is consumed until the month is closed (billing/month_close). Also the closed months:
// GET /admin/v1/orgs/{org}/invoices.
#include "cic/billing/invoice.hpp"
#include "cic/billing/invoice_usage.hpp"
#include "cic/billing/month_close.hpp"
#include "handlers.hpp"
#include "views.hpp"

namespace cic::admin::detail {
namespace {

json prices_view(const billing::TokenPrices& p) {
  return json{{"input_per_million_usd", usd(p.input)},
              {"cached_input_per_million_usd", usd(p.cached_input)},
              {"output_per_million_usd", usd(p.output)}};
}

json line_view(const billing::InvoiceLine& line) {
  json reference = nullptr;
  if (line.reference) {
    reference = prices_view(*line.reference);
    reference["model"] = line.reference_model;
    reference["cost_usd"] = usd(line.reference_micros);
  }
  return json{{"model", line.model},
              {"region", line.region},
              {"requests", line.requests},
              {"prompt_tokens", line.tokens.prompt},
              {"cached_tokens", line.tokens.cached},
              {"completion_tokens", line.tokens.completion},
              {"total_tokens", line.tokens.total()},
              {"price", line.prices ? prices_view(*line.prices) : json(nullptr)},
              {"list_cost_usd", usd(line.list_micros)},
              {"reference", std::move(reference)}};
}

json tiers_view(const billing::Invoice& inv) {
  json tiers = json::array();
  for (const auto& t : inv.tiers) {
    tiers.push_back(json{{"from_tokens", t.tier.from_tokens},
                         {"to_tokens", t.to_tokens ? json(*t.to_tokens) : json(nullptr)},
                         {"discount_percent", t.tier.discount_bp / 100.0},
                         {"tokens", t.tokens}});
  }
  return tiers;
}

json credits_view(const billing::Invoice& inv) {
  json applied = json::array();
  for (const auto& a : inv.credits_applied) {
    applied.push_back(json{{"id", a.credit_id},
                           {"kind", billing::to_string(a.kind)},
                           {"amount_usd", usd(a.amount_micros)},
                           {"expires_at", seconds(a.expires_at)}});
  }
  return json{{"applied", std::move(applied)},
              {"promotional_usd", usd(inv.promotional_credits_micros)},
              {"paid_usd", usd(inv.paid_credits_micros)},
              {"total_usd", usd(inv.promotional_credits_micros + inv.paid_credits_micros)}};
}

json savings_view(const billing::Invoice& inv) {
  json percent = nullptr;
  if (inv.reference_micros > 0) {
    // Display only: basis points, rounded once, shown with two decimals.
    percent = billing::div_round_half_up(static_cast<__int128>(inv.savings_micros) * 10'000, inv.reference_micros) / 100.0;
  }
  return json{{"tokens_compared", inv.compared_tokens},
              {"openai_list_usd", usd(inv.reference_micros)},
              {"our_price_usd", usd(inv.compared_micros)},
              {"amount_usd", usd(inv.savings_micros)},
              {"percent", percent}};
}

}  // namespace

HttpReply invoice_preview(Context& ctx, Call& call, const store::Org& org) {
  if (call.http.method != "GET") method_not_allowed(call);
  const std::int64_t period_start = billing::utc_month_start(call.now_ms);
  const std::int64_t period_end = billing::utc_next_month_start(call.now_ms);

  const billing::Invoice inv = billing::compute_invoice(
      billing::PriceBook(ctx.config().models),
      billing::month_invoice_input(ctx.store(), ctx.config(), org, period_start, call.now_ms));

  json lines = json::array();
  for (const auto& line : inv.lines) lines.push_back(line_view(line));
  return reply(200, json{{"object", "invoice_preview"},
                         {"org", org.id},
                         {"plan", org.plan},
                         {"currency", "usd"},
                         {"period_start", period_start / 1000},
                         {"period_end", period_end / 1000},
                         {"as_of", call.now_ms / 1000},
                         {"lines", std::move(lines)},
                         {"total_tokens", inv.billable_tokens},
                         {"subtotal_usd", usd(inv.subtotal_micros)},
                         {"volume_discount", json{{"amount_usd", usd(inv.discount_micros)}, {"tiers", tiers_view(inv)}}},
                         {"free_allowance", json{{"tokens_included", inv.free_tokens_included},
                                                 {"tokens_used", inv.free_tokens_used},
                                                 {"amount_usd", usd(inv.free_allowance_micros)}}},
                         {"usage_after_free_allowance_usd", usd(inv.usage_after_free_micros)},
                         {"credits", credits_view(inv)},
                         {"amount_due_usd", usd(inv.amount_due_micros)},
                         {"savings_vs_openai", savings_view(inv)}});
}

HttpReply invoices_collection(Context& ctx, Call& call, const store::Org& org) {
  if (call.http.method != "GET") method_not_allowed(call);
  json data = json::array();
  for (const store::MonthlyInvoice& m : ctx.store().list_monthly_invoices(org.id)) {
    data.push_back(json{{"object", "invoice"},
                        {"org", m.org_id},
                        {"month", billing::utc_month_label(m.period_start)},
                        {"period_start", m.period_start / 1000},
                        {"period_end", m.period_end / 1000},
                        {"total_tokens", m.total_tokens},
                        {"subtotal_usd", usd(m.subtotal_micros)},
                        {"volume_discount_usd", usd(m.discount_micros)},
                        {"free_allowance_usd", usd(m.free_allowance_micros)},
                        {"promotional_credits_usd", usd(m.promotional_credits_micros)},
                        {"paid_credits_usd", usd(m.paid_credits_micros)},
                        {"amount_due_usd", usd(m.amount_due_micros)},
                        {"closed_at", m.closed_at / 1000}});
  }
  return reply(200, json{{"object", "list"}, {"data", std::move(data)}});
}

}  // namespace cic::admin::detail

