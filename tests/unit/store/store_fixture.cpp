#include "store_fixture.hpp"

#include <sqlite3.h>

#include <cstdlib>
#include <pqxx/pqxx>

#include "cic/common/ids.hpp"

namespace cic::store::testing {

namespace {

// Adds libpq options to either DSN form: a URI gets query parameters, a key=value string gets
// more pairs. `-csearch_path=` makes every unqualified table name resolve in the test's schema.
std::string with_schema(const std::string& dsn, const std::string& schema) {
  if (dsn.starts_with("postgresql://") || dsn.starts_with("postgres://")) {
    const char* sep = dsn.find('?') == std::string::npos ? "?" : "&";
    return dsn + sep + "options=-csearch_path%3D" + schema + "&application_name=" + schema;
  }
  return dsn + " options='-csearch_path=" + schema + "' application_name=" + schema;
}

}  // namespace

void StoreFixture::SetUp() {
  if (is_postgres()) {
    const char* dsn = std::getenv("CIC_TEST_POSTGRES_DSN");
    if (dsn == nullptr || *dsn == '\0') {
      GTEST_SKIP() << "CIC_TEST_POSTGRES_DSN is not set, skipping the PostgreSQL case (`make test` "
                      "sets it; or: source tests/services.sh && services_start /tmp/pgwork)";
    }
    admin_dsn_ = dsn;
    schema_ = cic::new_id("cic_t");
    pqxx::connection admin(admin_dsn_);
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE SCHEMA " + schema_);
  } else {
    // A directory that does not exist yet, two levels deep: the store must create it.
    sqlite_dir_ = std::filesystem::temp_directory_path() / cic::new_id("cic-store-test");
  }
  store_ = open_store();
}

void StoreFixture::TearDown() {
  store_.reset();  // close our connections before the schema goes away
  if (!schema_.empty()) {
    pqxx::connection admin(admin_dsn_);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
  }
  if (!sqlite_dir_.empty()) std::filesystem::remove_all(sqlite_dir_);
}

std::unique_ptr<Store> StoreFixture::open_store(unsigned pool_size) const {
  if (is_postgres()) return make_postgres_store(with_schema(admin_dsn_, schema_), pool_size);
  return make_sqlite_store((sqlite_dir_ / "data" / "cic.db").string());
}

std::string StoreFixture::store_dsn() const { return with_schema(admin_dsn_, schema_); }

void StoreFixture::exec_raw(const std::string& sql) const {
  if (is_postgres()) {
    pqxx::connection conn(store_dsn());
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
    return;
  }
  std::filesystem::create_directories(sqlite_dir_ / "data");
  sqlite3* db = nullptr;
  int rc = sqlite3_open((sqlite_dir_ / "data" / "cic.db").c_str(), &db);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  std::string error = rc == SQLITE_OK ? "" : sqlite3_errmsg(db);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error("sqlite: " + error);
}

void StoreFixture::reopen() {
  store_.reset();
  store_ = open_store();
}

void StoreContract::SetUp() {
  StoreFixture::SetUp();
  if (IsSkipped()) return;
  store_->migrate();
}

UsageRecord make_usage(const std::string& request_id, std::int64_t created_at, int n) {
  UsageRecord r;
  r.request_id = request_id;
  r.org_id = "org_" + std::to_string(n % 3);
  r.environment_id = "env_" + std::to_string(n % 5);
  r.api_key_id = "key_" + std::to_string(n % 7);
  r.model = n % 2 == 0 ? "llama-3-8b" : "qwen-2-7b";
  r.region = "eu-west-1";
  r.node_id = "node_" + std::to_string(n % 4);
  r.endpoint = "chat.completions";
  r.prompt_tokens = 100 + n;
  r.completion_tokens = 200 + n;
  r.cached_tokens = n % 50;
  r.latency_ms = 1000 + n;
  r.ttft_ms = 50 + n % 10;
  r.status = n % 10 == 0 ? 499 : 200;
  r.streamed = n % 2 == 1;
  r.cancelled = n % 10 == 0;
  r.created_at = created_at;
  return r;
}

std::pair<Org, Environment> make_org_env(Store& store, const std::string& org_name) {
  Org org = store.create_org(Org{.name = org_name, .email = org_name + "@example.com"});
  Environment env = store.create_environment(
      Environment{.org_id = org.id, .name = "dev", .region = "eu-west-1", .models = {"llama-3-8b"}});
  return {org, env};
}

AuditEntry make_audit(const std::string& action, const std::string& target_id,
                      const std::string& org_id) {
  AuditEntry a;
  a.actor = "operator";
  a.action = action;
  a.target_type = action.substr(0, action.find('.'));
  a.target_id = target_id;
  a.org_id = org_id;
  a.request_id = "req_test";
  return a;
}

std::vector<AuditEntry> all_audit(Store& store) {
  return store.list_audit(AuditFilter{}, Page{.limit = 1000}).items;
}

void terminate_backends(const std::string& admin_dsn, const std::string& schema) {
  pqxx::connection admin(admin_dsn);
  pqxx::nontransaction tx(admin);
  tx.exec_params(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
      schema);
}

std::string backend_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

}  // namespace cic::store::testing
