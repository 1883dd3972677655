#include "worker.hpp"

#include <utility>  // before Asio, see docs/TOOLCHAIN gotchas

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <deque>
#include <exception>

#include "http_connection.hpp"

namespace cic::bench {
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kConnectGrace = 5s;  // how long the start waits for the initial connections

unsigned share_of(unsigned total, WorkerShare s) {
  return total / s.count + (s.index < total % s.count ? 1 : 0);
}

std::chrono::nanoseconds seconds_to_ns(double s) {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(s * 1e9)));
}

/// Owns the io_context of one worker and drives either load shape.
///
/// Open loop: a scheduler enqueues the scheduled send time of request i at t0 + i/rate and wakes
/// one idle connection; connections take the oldest queued time, so a request waiting for a free
/// connection has that wait in its latency. Closed loop: each connection loops on its own.
class Worker {
 public:
  Worker(const Options& o, const Target& t, const std::string& address, WorkerShare share)
      : options_(o),
        target_(t),
        share_(share),
        endpoint_(asio::ip::make_address(address), t.port),
        connections_(share_of(o.connections, share)),
        max_connections_(share_of(o.max_connections, share)),
        idle_cv_(io_, TimePoint::max()),
        ready_(io_, TimePoint::max()),
        start_(io_, TimePoint::max()),
        drain_(io_, TimePoint::max()) {}

  Recorder run() {
    recorder_.keep_ids(!options_.ids_file.empty());
    auto rethrow = [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    };
    initial_pending_ = connections_;
    for (unsigned i = 0; i < connections_; ++i) {
      if (options_.closed_loop)
        asio::co_spawn(io_, closed_loop_connection(), rethrow);
      else
        asio::co_spawn(io_, open_loop_connection(true), rethrow);
    }
    asio::co_spawn(io_, options_.closed_loop ? closed_loop_controller() : open_loop_scheduler(), rethrow);
    io_.run();
    return std::move(recorder_);
  }

 private:
  // --- shared by both shapes --------------------------------------------------------------

  asio::awaitable<void> connect_initial(HttpConnection& conn) {
    recorder_.add_connection_opened();
    co_await conn.connect();  // a failure here is retried, and recorded, by the first exchange
    if (--initial_pending_ == 0) ready_.cancel();
  }

  asio::awaitable<void> wait_ready() {
    if (initial_pending_ > 0) {
      ready_.expires_after(kConnectGrace);
      co_await ready_.async_wait(kTuple);
    }
  }

  void connection_closed() {
    if (--open_ == 0 && stopping_) drain_.cancel();
  }

  // Waits until every connection has left (or the last response's timeout has passed), then
  // stops the loop so a hung target cannot keep the run alive.
  asio::awaitable<void> drain(TimePoint last_start) {
    stopping_ = true;
    idle_cv_.cancel();
    idle_ = 0;
    if (open_ > 0) {
      drain_.expires_at(last_start + std::chrono::milliseconds(options_.timeout_ms) + 1s);
      co_await drain_.async_wait(kTuple);
    }
    io_.stop();
  }

  // --- open loop ---------------------------------------------------------------------------

  asio::awaitable<void> open_loop_scheduler() {
    co_await wait_ready();
    const double rate = options_.rate / share_.count;
    // Workers interleave: worker k sends at offsets k/rate_total so the merged stream stays even.
    const TimePoint t0 = Clock::now() + seconds_to_ns(share_.index / options_.rate);
    const TimePoint start = t0 + seconds_to_ns(options_.warmup_s);
    const TimePoint end = start + seconds_to_ns(options_.duration_s);
    recorder_.set_window(start, end);
    asio::steady_timer timer(io_);
    for (std::uint64_t i = 0;; ++i) {
      const TimePoint due = t0 + seconds_to_ns(static_cast<double>(i) / rate);
      if (due >= end) break;
      if (due > Clock::now()) {
        timer.expires_at(due);
        co_await timer.async_wait(kTuple);
      }
      dispatch(due);
    }
    co_await drain(end);
  }

  void dispatch(TimePoint due) {
    recorder_.on_scheduled(due);
    queue_.push_back(due);
    if (idle_ > 0) {
      // cancel_one() is the notify_one of a timer used as a condition variable.
      idle_cv_.cancel_one();
      --idle_;
    } else if (open_ < max_connections_) {
      asio::co_spawn(io_, open_loop_connection(false), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
    }
  }

  asio::awaitable<void> open_loop_connection(bool initial) {
    ++open_;
    HttpConnection conn(io_.get_executor(), endpoint_, target_.request_bytes,
                        std::chrono::milliseconds(options_.timeout_ms));
    if (initial)
      co_await connect_initial(conn);
    else
      recorder_.add_connection_opened();
    for (;;) {
      while (queue_.empty() && !stopping_) {
        ++idle_;
        co_await idle_cv_.async_wait(kTuple);
      }
      if (queue_.empty()) break;  // stopping and nothing left to send
      const TimePoint due = queue_.front();
      queue_.pop_front();
      recorder_.on_sent(due);
      const ExchangeResult r = co_await conn.exchange(options_.stream);
      recorder_.on_result(due, r);
    }
    connection_closed();
  }

  // --- closed loop -------------------------------------------------------------------------

  asio::awaitable<void> closed_loop_controller() {
    co_await wait_ready();
    const TimePoint start = Clock::now() + seconds_to_ns(options_.warmup_s);
    end_ = start + seconds_to_ns(options_.duration_s);
    recorder_.set_window(start, end_);
    start_.cancel();
    // Connections stop on their own at end_; the drain only guards against a hung response.
    drain_.expires_at(end_);
    co_await drain_.async_wait(kTuple);
    co_await drain(end_);
  }

  asio::awaitable<void> closed_loop_connection() {
    ++open_;
    HttpConnection conn(io_.get_executor(), endpoint_, target_.request_bytes,
                        std::chrono::milliseconds(options_.timeout_ms));
    co_await connect_initial(conn);
    if (!started()) co_await start_.async_wait(kTuple);
    for (TimePoint sent = Clock::now(); sent < end_; sent = Clock::now()) {
      recorder_.on_sent(sent);
      const ExchangeResult r = co_await conn.exchange(options_.stream);
      recorder_.on_result(sent, r);
    }
    connection_closed();
  }

  bool started() const { return end_ != TimePoint{}; }

  const Options& options_;
  const Target& target_;
  const WorkerShare share_;
  asio::io_context io_{1};
  const asio::ip::tcp::endpoint endpoint_;
  const unsigned connections_;
  const unsigned max_connections_;
  Recorder recorder_;

  // Timers at TimePoint::max() serve as one-shot events: cancel() is the signal.
  asio::steady_timer idle_cv_;  // idle open-loop connections wait here for queued work
  asio::steady_timer ready_;    // all initial connections attempted
  asio::steady_timer start_;    // closed loop: window set, go
  asio::steady_timer drain_;    // last connection gone, or the drain deadline

  std::deque<TimePoint> queue_;  // scheduled send times not yet taken by a connection
  unsigned open_ = 0;
  unsigned idle_ = 0;
  unsigned initial_pending_ = 0;
  bool stopping_ = false;
  TimePoint end_{};
};

}  // namespace

Recorder run_worker(const Options& options, const Target& target, const std::string& address, WorkerShare share) {
  Worker worker(options, target, address, share);
  return worker.run();
}

}  // namespace cic::bench
