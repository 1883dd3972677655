#pragma once
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "cic/store/store.hpp"

namespace cic::store {

/// A small blocking pool of libpqxx connections. A connection is leased to one thread at a time
/// (libpqxx connections are not thread-safe); callers block while all `size` connections are
/// leased. Connections open lazily, and one that broke is closed instead of returned, so the next
/// lease opens a fresh one: a database restart costs the calls in flight, not the process.
class PgPool {
 public:
  /// `on_open` runs once for every new connection (registers prepared statements).
  PgPool(std::string dsn, unsigned size, std::function<void(pqxx::connection&)> on_open);
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  /// Runs `fn(connection&)` on a leased connection and returns its result. libpqxx errors become
  /// StoreConflict (unique violations) or StoreError (everything else).
  template <typename Fn>
  auto run(Fn&& fn) -> decltype(fn(std::declval<pqxx::connection&>())) {
    Lease lease(*this, acquire());
    try {
      return fn(*lease.conn);
    } catch (const pqxx::broken_connection& e) {
      lease.broken = true;
      throw StoreError(std::string("postgres: connection lost: ") + e.what());
    } catch (const pqxx::unique_violation& e) {
      throw StoreConflict(std::string("postgres: ") + e.what());
    } catch (const StoreError&) {
      lease.broken = !lease.conn->is_open();
      throw;
    } catch (const std::exception& e) {
      // sql_error, in_doubt_error, conversion errors... The connection may have died underneath
      // (in_doubt_error on COMMIT), so check before handing it back.
      lease.broken = !lease.conn->is_open();
      throw StoreError(std::string("postgres: ") + e.what());
    }
  }

 private:
  using ConnPtr = std::unique_ptr<pqxx::connection>;

  // Returns the connection to the pool on scope exit, or closes it when marked broken.
  struct Lease {
    Lease(PgPool& pool, ConnPtr c) : pool(pool), conn(std::move(c)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool.release(std::move(conn), broken); }
    PgPool& pool;
    ConnPtr conn;
    bool broken = false;
  };

  ConnPtr acquire();
  void release(ConnPtr conn, bool broken) noexcept;

  const std::string dsn_;
  const unsigned size_;
  const std::function<void(pqxx::connection&)> on_open_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<ConnPtr> idle_;  // guarded by mu_
  unsigned open_ = 0;          // leased + idle, guarded by mu_
};

}  // namespace cic::store
