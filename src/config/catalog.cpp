#include <cmath>

#include "address.hpp"
#include "sections.hpp"

namespace cic::config::detail {
namespace {

constexpr std::int64_t kMaxContextTokens = 10'000'000;

// Reads a required identifier and checks its spelling; uniqueness is checked in validate.cpp.
void read_id(MapReader& item, std::string_view key, std::string& out) {
  item.read_string(key, out);
  if (!item.is_map()) return;  // already reported as "expected a mapping"
  if (out.empty()) {
    item.issue(key, "is required");
  } else if (!is_valid_id(out)) {
    item.issue(key, "must start with a letter or digit and contain only letters, digits, '.', "
                    "'_' and '-' (it appears in URLs and metric labels), got " + quote(out));
  }
}

// A price in USD per 1M tokens, kept as integer micro-dollars (money is never floating point
// after this point).
void read_usd_per_million(MapReader& m, std::string_view key, std::int64_t& out) {
  double usd = -1;
  m.read_double(key, usd, 0, 1'000'000);
  if (usd >= 0) out = static_cast<std::int64_t>(std::llround(usd * 1'000'000.0));
}

// The three prices of a `price`-shaped mapping; false (with an issue) unless input and output are
// both given. Cached input defaults to the input price.
struct PriceTriple {
  std::int64_t input = -1;
  std::int64_t output = -1;
  std::int64_t cached_input = -1;
};

PriceTriple read_price_triple(MapReader& m) {
  PriceTriple p;
  read_usd_per_million(m, "input_per_million_usd", p.input);
  read_usd_per_million(m, "output_per_million_usd", p.output);
  read_usd_per_million(m, "cached_input_per_million_usd", p.cached_input);
  if (p.input >= 0 && p.output >= 0 && p.cached_input < 0) p.cached_input = p.input;
  return p;
}

// `regional_prices:` — per-region replacements of `price`. Whether each region exists is a
// cross-section check; here: shape, both prices, one entry per region, and a default price.
void read_regional_prices(MapReader& item, ModelConfig& model) {
  item.each("regional_prices", [&](MapReader& entry, std::size_t) {
    ModelConfig::RegionalPrice regional;
    read_id(entry, "region", regional.region);
    PriceTriple p = read_price_triple(entry);
    if (!entry.is_map()) return;
    if (p.input < 0 || p.output < 0) {
      entry.issue("input_per_million_usd", "a regional price needs both input_per_million_usd and "
                                           "output_per_million_usd");
      return;
    }
    for (const auto& other : model.regional_prices) {
      if (!regional.region.empty() && other.region == regional.region) {
        entry.issue("region", "region " + quote(regional.region) + " has two regional prices");
        return;
      }
    }
    regional.input_micros_per_million = p.input;
    regional.output_micros_per_million = p.output;
    regional.cached_input_micros_per_million = p.cached_input;
    model.regional_prices.push_back(std::move(regional));
  });
  if (!model.regional_prices.empty() && !model.priced()) {
    item.issue("regional_prices", "needs a default `price` as well (other regions, holds and spend "
                                  "caps use it)");
  }
}

void read_reference_price(MapReader& item, ModelConfig& model) {
  MapReader ref = item.child("reference_price");
  ref.read_string("model", model.reference_model);
  PriceTriple p = read_price_triple(ref);
  if (!ref.is_map()) return;
  if (p.input < 0 || p.output < 0) {
    item.issue("reference_price", "needs both input_per_million_usd and output_per_million_usd");
    return;
  }
  model.reference_input_micros_per_million = p.input;
  model.reference_output_micros_per_million = p.output;
  model.reference_cached_input_micros_per_million = p.cached_input;
}

}  // namespace

void parse_regions(MapReader& root, std::vector<RegionConfig>& out) {
  root.each("regions", [&](MapReader& item, std::size_t) {
    RegionConfig region;
    read_id(item, "name", region.name);
    item.read_string("display_name", region.display_name);
    item.read_string_list("fallback", region.fallback);
    // Dashboards and the admin API show display_name; the name itself is a fine fallback.
    if (region.display_name.empty()) region.display_name = region.name;
    out.push_back(std::move(region));
  });
}

void parse_models(MapReader& root, std::vector<ModelConfig>& out) {
  root.each("models", [&](MapReader& item, std::size_t) {
    ModelConfig model;
    read_id(item, "id", model.id);
    item.read_string("family", model.family);
    item.read_enum("kind", model.kind,
                   {{"chat", ModelConfig::Kind::kChat},
                    {"completion", ModelConfig::Kind::kCompletion},
                    {"embedding", ModelConfig::Kind::kEmbedding}});
    item.read_int("context_length", model.context_length, 1, kMaxContextTokens, "tokens");
    item.read_int("default_max_tokens", model.default_max_tokens, 1, kMaxContextTokens, "tokens");
    {
      MapReader price = item.child("price");
      read_usd_per_million(price, "input_per_million_usd", model.input_micros_per_million);
      read_usd_per_million(price, "output_per_million_usd", model.output_micros_per_million);
      read_usd_per_million(price, "cached_input_per_million_usd", model.cached_input_micros_per_million);
      bool any = model.input_micros_per_million >= 0 || model.output_micros_per_million >= 0 ||
                 model.cached_input_micros_per_million >= 0;
      if (any && !model.priced()) {
        item.issue("price", "needs both input_per_million_usd and output_per_million_usd");
      }
      if (model.priced() && model.cached_input_micros_per_million < 0) {
        model.cached_input_micros_per_million = model.input_micros_per_million;
      }
    }
    read_regional_prices(item, model);
    read_reference_price(item, model);
    if (model.default_max_tokens > model.context_length) {
      item.issue("default_max_tokens",
                 "must not exceed context_length (" + std::to_string(model.context_length) +
                     "), got " + std::to_string(model.default_max_tokens));
    }
    out.push_back(std::move(model));
  });
}

namespace {

void read_limits(MapReader& parent, std::string_view key, RateLimits& out) {
  MapReader m = parent.child(key);
  m.read_int("rpm", out.rpm, 0, 1'000'000'000, "requests per minute");
  m.read_int("tpm", out.tpm, 0, 1'000'000'000'000, "tokens per minute");
  m.read_int("concurrency", out.concurrency, 0, 1'000'000, "requests");
}

std::vector<PlanConfig> builtin_plans() {
  return {
      // free: 100K tokens a month at no cost, and no more (no payment method behind it).
      {"free", {60, 100'000, 10}, {600, 1'000'000, 50}, 100'000, 100'000},
      {"pro", {600, 1'000'000, 50}, {6'000, 10'000'000, 500}, 0, 0},
      {"enterprise", {6'000, 10'000'000, 500}, {0, 0, 0}, 0, 0},
  };
}

}  // namespace

void parse_plans(MapReader& root, std::vector<PlanConfig>& out) {
  root.each("plans", [&](MapReader& item, std::size_t) {
    PlanConfig plan;
    read_id(item, "name", plan.name);
    read_limits(item, "default_limits", plan.default_limits);
    read_limits(item, "max_limits", plan.max_limits);
    item.read_int("monthly_free_tokens", plan.monthly_free_tokens, 0, 1'000'000'000'000, "tokens");
    item.read_int("monthly_token_quota", plan.monthly_token_quota, 0, 1'000'000'000'000, "tokens");
    out.push_back(std::move(plan));
  });
  if (out.empty()) out = builtin_plans();
}

void parse_nodes(MapReader& root, std::vector<NodeConfig>& out) {
  root.each("nodes", [&](MapReader& item, std::size_t) {
    NodeConfig node;
    read_id(item, "id", node.id);
    item.read_string("region", node.region);
    item.read_string("endpoint", node.endpoint);
    item.read_string_list("models", node.models);
    item.read_string("provider", node.provider);
    item.read_string("instance_type", node.instance_type);
    item.read_bool("spot", node.spot);
    item.read_double("price_per_hour", node.price_per_hour, 0.0, 10'000.0);
    item.read_int("capacity_tokens_per_sec", node.capacity_tokens_per_sec, 0, 100'000'000,
                  "tokens/s");
    if (item.is_map()) {
      if (node.region.empty()) item.issue("region", "is required");
      if (node.models.empty()) item.issue("models", "must list at least one model id");
      if (node.provider.empty()) item.issue("provider", "must not be empty");
      std::string error;
      if (node.endpoint.empty()) {
        item.issue("endpoint", "is required, e.g. http://10.0.0.5:8000");
      } else if (!check_endpoint(node.endpoint, error)) {
        item.issue("endpoint", error + ", got " + quote(node.endpoint));
      } else if (node.endpoint.back() == '/') {
        node.endpoint.pop_back();  // callers append "/v1/..." and must not produce "//v1"
      }
    }
    out.push_back(std::move(node));
  });
}

}  // namespace cic::config::detail
