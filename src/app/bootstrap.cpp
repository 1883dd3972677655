#include "cic/app/bootstrap.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <spdlog/spdlog.h>

#include "cic/auth/api_key.hpp"
#include "cic/billing/credits.hpp"

namespace cic::app {
namespace {

std::string read_trimmed(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

void write_secret_file(const std::filesystem::path& path, const std::string& secret) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
    ::chmod(tmp.c_str(), 0600);
    out << secret << '\n';
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

void blocking_sync_catalog(const config::Config& config, store::Store& store) {
  for (const auto& m : config.models) {
    store.upsert_model(store::Model{m.id, m.family, config::to_string(m.kind), m.context_length});
  }
}

std::string blocking_bootstrap(const config::Config& config, store::Store& store, const auth::KeyHasher& hasher) {
  const auto& b = config.bootstrap;
  auto org = store.find_org(b.org);
  if (!org) {
    store::Org fresh;
    fresh.name = b.org;
    fresh.email = b.email;
    fresh.plan = b.plan;
    org = store.create_org(fresh);
    spdlog::info("bootstrap: created org '{}' ({})", org->name, org->id);
  } else if (org->plan != b.plan) {
    // The demo org follows the config's plan, so a changed dev config applies to existing data.
    store::Org updated = *org;
    updated.plan = b.plan;
    if (auto saved = store.update_org(updated, nullptr)) org = saved;
    spdlog::info("bootstrap: org '{}' is now on plan '{}'", org->name, org->plan);
  }
  // Like every org created over the admin API, the demo org has its sign-up bonus (once: the
  // idempotency key makes later starts, and demo orgs from before the bonus, a no-op). created_at
  // 0: the store's now.
  store.add_credit(billing::signup_bonus_entry(org->id, 0));
  auto env = store.find_environment(org->id, b.environment);
  if (!env) {
    store::Environment e;
    e.org_id = org->id;
    e.name = b.environment;
    e.region = b.region;
    e.models = b.models;
    if (e.models.empty()) {
      for (const auto& m : config.models) e.models.push_back(m.id);
    }
    env = store.create_environment(e);
    spdlog::info("bootstrap: created environment '{}' ({}) in region {}", env->name, env->id, env->region);
  }

  std::filesystem::path key_file = b.api_key_file;
  if (std::filesystem::exists(key_file)) {
    std::string existing = read_trimmed(key_file);
    if (auth::has_valid_api_key_shape(existing)) {
      auto stored = store.find_api_key_by_hash(hasher.hash(existing));
      if (stored && !stored->revoked_at && stored->environment_id == env->id) return existing;
    }
  }
  std::string key = auth::generate_api_key(b.environment);
  store::ApiKey record;
  record.org_id = org->id;
  record.environment_id = env->id;
  record.name = "bootstrap";
  record.prefix = auth::api_key_prefix(key);
  record.hash = hasher.hash(key);
  store.create_api_key(record);
  write_secret_file(key_file, key);
  spdlog::info("bootstrap: issued key {}... for {}/{}; written to {}", record.prefix, org->name, env->name, key_file.string());
  return key;
}

}  // namespace cic::app
