// ChangeListener for PostgreSQL: LISTEN cic_invalidate on a dedicated connection.
#include <chrono>
#include <memory>
#include <pqxx/pqxx>
#include <thread>

#include "cic/store/store.hpp"
#include "postgres_util.hpp"

namespace cic::store {

namespace {

using Clock = std::chrono::steady_clock;

/// One connection (never pooled: LISTEN belongs to a session) and one receiver on it. Used by one
/// thread at a time, like every libpqxx connection.
///
/// A connection that breaks is dropped; the next wait() opens a new one and answers true, because
/// notifications sent while nobody listened are lost and the caller must assume a change. While
/// the server cannot be reached, wait() sleeps out its timeout and answers false, so a caller that
/// drops its cache on true does not empty it again and again during an outage.
class PgChangeListener final : public ChangeListener {
 public:
  explicit PgChangeListener(std::string dsn) : dsn_(std::move(dsn)) {
    try {
      connect();
    } catch (const std::exception& e) {
      // The DSN may carry a password: report only libpq's message, which never echoes it.
      throw StoreError(std::string("postgres: change listener cannot connect: ") + e.what());
    }
  }

  ~PgChangeListener() override { disconnect(); }

  bool wait(std::chrono::milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    if (!conn_) {
      try {
        connect();
        return true;  // changes may have happened while we were not listening
      } catch (const std::exception&) {
        disconnect();
        std::this_thread::sleep_until(deadline);
        return false;
      }
    }
    seen_ = false;
    try {
      while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
            std::max(deadline - Clock::now(), Clock::duration::zero()));
        // Returns early on any traffic on the socket, not only on a notification: loop.
        conn_->await_notification(static_cast<long>(left.count() / 1000000),
                                  static_cast<long>(left.count() % 1000000));
        if (seen_) return true;
        if (!conn_->is_open()) throw pqxx::broken_connection("connection closed");
        if (Clock::now() >= deadline) return false;
      }
    } catch (const pqxx::broken_connection&) {
      disconnect();
      try {
        connect();
      } catch (const std::exception&) {
        disconnect();
        std::this_thread::sleep_until(deadline);
        return false;
      }
      return true;
    }
  }

 private:
  struct Receiver final : pqxx::notification_receiver {
    Receiver(pqxx::connection_base& c, bool& seen)
        : pqxx::notification_receiver(c, kInvalidateChannel), seen(seen) {}
    void operator()(const std::string& /*payload*/, int /*backend_pid*/) override { seen = true; }
    bool& seen;
  };

  void connect() {
    conn_ = std::make_unique<pqxx::connection>(dsn_);
    // Registering the first receiver of a channel sends LISTEN on the connection.
    receiver_ = std::make_unique<Receiver>(*conn_, seen_);
  }

  void disconnect() noexcept {
    try {
      receiver_.reset();  // before its connection; may try UNLISTEN on a dead socket
    } catch (...) {
    }
    conn_.reset();
  }

  const std::string dsn_;
  bool seen_ = false;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<Receiver> receiver_;
};

}  // namespace

std::unique_ptr<ChangeListener> make_change_listener(const std::string& postgres_dsn) {
  if (postgres_dsn.empty()) return nullptr;
  return std::make_unique<PgChangeListener>(postgres_dsn);
}

}  // namespace cic::store
