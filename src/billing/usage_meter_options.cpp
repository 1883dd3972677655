// What the `billing:` and `store:` config sections make of the meter's options, and the owner a
// log slot records (the store's identity without credentials).
#include <cctype>
#include <filesystem>
#include <map>
#include <string>

#include "cic/billing/usage_meter.hpp"

namespace cic::billing {

namespace {

// The parts of a PostgreSQL DSN that name the database (host, port, database), without the user,
// password or options: the owner of a log slot is written to disk in clear.
std::string postgres_identity(const std::string& dsn) {
  if (dsn.starts_with("postgresql://") || dsn.starts_with("postgres://")) {
    std::string rest = dsn.substr(dsn.find("://") + 3);
    rest = rest.substr(0, rest.find('?'));
    const auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    const std::string database = slash == std::string::npos ? "" : rest.substr(slash);
    if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
    return "postgres://" + authority + database;
  }
  // key=value pairs; a value may be single-quoted with backslash escapes.
  std::map<std::string, std::string> kept;
  std::size_t i = 0;
  auto skip_spaces = [&] {
    while (i < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[i]))) ++i;
  };
  while (i < dsn.size()) {
    skip_spaces();
    std::string key;
    while (i < dsn.size() && dsn[i] != '=' && !std::isspace(static_cast<unsigned char>(dsn[i]))) key += dsn[i++];
    skip_spaces();
    if (i < dsn.size() && dsn[i] == '=') ++i;
    skip_spaces();
    std::string value;
    if (i < dsn.size() && dsn[i] == '\'') {
      for (++i; i < dsn.size() && dsn[i] != '\''; ++i) {
        if (dsn[i] == '\\' && i + 1 < dsn.size()) ++i;
        value += dsn[i];
      }
      ++i;
    } else {
      while (i < dsn.size() && !std::isspace(static_cast<unsigned char>(dsn[i]))) value += dsn[i++];
    }
    if (key == "host" || key == "hostaddr" || key == "port" || key == "dbname") kept[key] = value;
  }
  std::string out = "postgres:";
  for (const auto& [key, value] : kept) out += " " + key + "=" + value;
  return out;
}

}  // namespace

std::string usage_log_owner(const config::StoreConfig& store) {
  if (store.backend == config::StoreConfig::Backend::kPostgres) return postgres_identity(store.postgres.dsn);
  return "sqlite:" + std::filesystem::absolute(store.sqlite.path).lexically_normal().string();
}

UsageMeterOptions meter_options(const config::BillingConfig& billing, const config::StoreConfig& store) {
  UsageMeterOptions o;
  o.log.dir = billing.wal_dir;
  o.log.owner = usage_log_owner(store);
  o.log.max_bytes = billing.wal_max_bytes;
  o.log.segment_bytes = billing.wal_segment_bytes;
  o.log.group_commit_max_delay = std::chrono::duration_cast<std::chrono::microseconds>(billing.group_commit_max_delay);
  o.flush_interval = billing.flush_interval;
  o.flush_batch = billing.flush_batch;
  o.drain_batch = billing.drain_batch;
  o.flush_parallelism = billing.flush_parallelism;
  o.retry_max = billing.flush_retry_max;
  return o;
}

}  // namespace cic::billing
