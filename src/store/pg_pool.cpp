#include "pg_pool.hpp"

namespace cic::store {

PgPool::PgPool(std::string dsn, unsigned size, std::function<void(pqxx::connection&)> on_open)
    : dsn_(std::move(dsn)), size_(size == 0 ? 1 : size), on_open_(std::move(on_open)) {}

PgPool::ConnPtr PgPool::acquire() {
  {
    std::unique_lock lock(mu_);
    available_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      ConnPtr conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++open_;  // reserve the slot now; connecting happens outside the lock
  }
  try {
    auto conn = std::make_unique<pqxx::connection>(dsn_);
    on_open_(*conn);
    return conn;
  } catch (const std::exception& e) {
    {
      std::lock_guard lock(mu_);
      --open_;
    }
    available_.notify_one();
    // The DSN may carry a password: report only libpq's message, which never echoes it.
    throw StoreError(std::string("postgres: cannot connect: ") + e.what());
  }
}

void PgPool::release(ConnPtr conn, bool broken) noexcept {
  {
    std::lock_guard lock(mu_);
    if (!broken && conn != nullptr) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;  // the slot frees up; the next acquire opens a new connection
    }
  }
  available_.notify_one();
  conn.reset();  // a broken connection closes here, outside the lock
}

}  // namespace cic::store
