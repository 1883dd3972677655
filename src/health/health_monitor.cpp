// The active prober: rounds on a timer, one coroutine per (node, kind) probe, all on one strand.
// Every probe is a fresh connection with one deadline covering resolve, connect, request and the
// whole answer. It measures and reports; what a failure means is the caller's decision.
#include <utility>  // Boost.Asio's awaitable.hpp relies on it being included first

#include <array>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "cic/health/health_monitor.hpp"
#include "cic/registry/vllm_metrics.hpp"

namespace cic::health {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);
constexpr std::uint64_t kMetricsBodyLimit = 8u << 20;  // a vLLM /metrics body is ~100 KiB
constexpr std::uint64_t kBodyLimit = 1u << 20;
constexpr std::size_t kErrorSnippetBytes = 200;
constexpr std::size_t kKinds = 3;

std::size_t index_of(ProbeKind kind) { return static_cast<std::size_t>(kind); }

/// What one probe found, before latency and identity are added.
struct Outcome {
  bool ok = false;
  int status = 0;
  std::string error;
};

Outcome failure(std::string error, int status = 0) { return Outcome{false, status, std::move(error)}; }

std::string describe(const char* stage, const beast::error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) return "timeout after " + std::to_string(timeout.count()) + " ms (" + stage + ")";
  if (ec == http::error::body_limit) return std::string(stage) + ": answer too large";
  return std::string(stage) + ": " + ec.message();
}

// A bounded, single-line, printable-ASCII excerpt of a node's answer, so the caller can log why a
// probe failed (non-ASCII bytes become spaces: a cut UTF-8 sequence must not reach JSON logs).
std::string snippet(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kErrorSnippetBytes)) out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  if (body.size() > kErrorSnippetBytes) out.append("...");
  return out;
}

std::string host_header(const registry::NodeAddress& address) {
  std::string host = address.host.find(':') != std::string::npos ? "[" + address.host + "]" : address.host;
  return host + ":" + std::to_string(address.port);
}

/// The I/O objects of one probe. Shared with the resolve handler, which may outlive the probe when
/// getaddrinfo hangs past the deadline (Asio cannot interrupt it).
struct ProbeIo {
  explicit ProbeIo(const net::any_io_executor& executor) : resolver(executor), wake(executor), stream(executor) {}

  void cancel() {
    resolver.cancel();
    wake.cancel();
    stream.close();  // closes the socket and cancels the stream's deadline
  }

  tcp::resolver resolver;
  net::steady_timer wake;  // the resolve deadline; cancelled early by the resolve handler
  beast::tcp_stream stream;
  bool resolved = false;
  beast::error_code resolve_error;
  std::vector<tcp::endpoint> endpoints;
};

}  // namespace

struct HealthMonitor::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& io, HealthMonitorOptions options, std::function<std::vector<ProbeTarget>()> targets,
       std::function<void(const ProbeResult&)> report)
      : strand_(net::make_strand(io)),
        timer_(strand_),
        options_(std::move(options)),
        targets_(std::move(targets)),
        report_(std::move(report)) {
    if (options_.interval < std::chrono::milliseconds(1)) options_.interval = std::chrono::milliseconds(1);
  }

  void start();
  void stop();
  void probe_now();

 private:
  /// Marks a (node, kind) probe as running and registers its I/O for stop(); undone on destruction.
  struct Slot;

  net::awaitable<void> run_rounds(std::shared_ptr<Impl> self);
  void start_round();
  void launch(const std::shared_ptr<const ProbeTarget>& target, ProbeKind kind);
  net::awaitable<void> readiness_then_metrics(std::shared_ptr<Impl> self, std::shared_ptr<const ProbeTarget> target);
  net::awaitable<void> probe(std::shared_ptr<Impl> self, std::shared_ptr<const ProbeTarget> target, ProbeKind kind);
  net::awaitable<Outcome> exchange(const std::shared_ptr<ProbeIo>& io, const ProbeTarget& target, ProbeKind kind,
                                   Clock::time_point deadline);
  net::awaitable<beast::error_code> resolve(const std::shared_ptr<ProbeIo>& io, const registry::NodeAddress& address,
                                            Clock::time_point deadline);
  Outcome evaluate(const ProbeTarget& target, ProbeKind kind, const http::response<http::string_body>& answer) const;
  void deliver(const ProbeResult& result);
  void cancel_all();
  static void log_exception(std::exception_ptr error);

  net::strand<net::io_context::executor_type> strand_;
  net::steady_timer timer_;
  HealthMonitorOptions options_;
  std::function<std::vector<ProbeTarget>()> targets_;
  std::function<void(const ProbeResult&)> report_;

  // Held while a callback runs, so stop() can promise that none runs after it returns. Recursive
  // because stop() may be called from inside `report`.
  std::recursive_mutex callback_mutex_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};

  // Strand only.
  std::unordered_map<std::string, std::array<bool, kKinds>> running_;
  std::unordered_set<ProbeIo*> active_;
};

struct HealthMonitor::Impl::Slot {
  Slot(Impl& impl, std::string node_id, ProbeKind kind, ProbeIo* io)
      : impl_(impl), node_id_(std::move(node_id)), kind_(kind), io_(io) {
    impl_.active_.insert(io_);
  }
  ~Slot() {
    impl_.active_.erase(io_);
    auto it = impl_.running_.find(node_id_);
    if (it == impl_.running_.end()) return;
    it->second[index_of(kind_)] = false;
    if (it->second == std::array<bool, kKinds>{}) impl_.running_.erase(it);
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

  Impl& impl_;
  std::string node_id_;
  ProbeKind kind_;
  ProbeIo* io_;
};

void HealthMonitor::Impl::log_exception(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("health monitor: unexpected exception: {}", e.what());
  } catch (...) {
    spdlog::error("health monitor: unexpected exception");
  }
}

void HealthMonitor::Impl::start() {
  if (stopped_ || started_.exchange(true)) return;
  net::co_spawn(strand_, run_rounds(shared_from_this()), &Impl::log_exception);
}

void HealthMonitor::Impl::stop() {
  {
    std::lock_guard lock(callback_mutex_);
    if (stopped_.exchange(true)) return;
  }
  net::post(strand_, [self = shared_from_this()] { self->cancel_all(); });
}

void HealthMonitor::Impl::probe_now() {
  if (!started_ || stopped_) return;
  net::post(strand_, [self = shared_from_this()] { self->start_round(); });
}

void HealthMonitor::Impl::cancel_all() {
  timer_.cancel();
  for (ProbeIo* io : active_) io->cancel();
  // Never called again (stopped_ is set); let go of whatever the caller's closures hold now rather
  // than when the last probe coroutine is gone. No callback is running: they run on this strand.
  targets_ = nullptr;
  report_ = nullptr;
}

net::awaitable<void> HealthMonitor::Impl::run_rounds(std::shared_ptr<Impl> self) {
  // stop() sets stopped_ before posting cancel_all() to this strand, so a wait begun after the
  // check below is always cancelled.
  while (!stopped_) {
    start_round();
    timer_.expires_after(options_.interval);
    co_await timer_.async_wait(use_nothrow);
  }
}

void HealthMonitor::Impl::start_round() {
  std::vector<ProbeTarget> targets;
  {
    std::lock_guard lock(callback_mutex_);
    if (stopped_) return;
    try {
      targets = targets_();
    } catch (...) {
      log_exception(std::current_exception());
      return;
    }
  }
  for (ProbeTarget& t : targets) {
    auto target = std::make_shared<const ProbeTarget>(std::move(t));
    launch(target, ProbeKind::kLiveness);
    if (target->check_readiness && target->scrape_metrics) {
      // The scrape follows the readiness inference instead of running beside it: taken while the
      // probe's own request runs, it would report a busy engine, and load_aware would pass a node
      // just readmitted over until the next scrape (a whole metrics interval of no traffic).
      net::co_spawn(strand_, readiness_then_metrics(shared_from_this(), target), &Impl::log_exception);
    } else if (target->check_readiness) {
      launch(target, ProbeKind::kReadiness);
    } else if (target->scrape_metrics) {
      launch(target, ProbeKind::kMetrics);
    }
  }
}

net::awaitable<void> HealthMonitor::Impl::readiness_then_metrics(std::shared_ptr<Impl> self,
                                                                 std::shared_ptr<const ProbeTarget> target) {
  // Runs on the strand, like launch(). A readiness probe still running from an earlier round
  // means this scrape is skipped, not run beside it; the next one due comes a metrics interval on.
  bool& readiness_running = running_[target->node_id][index_of(ProbeKind::kReadiness)];
  if (readiness_running) co_return;
  readiness_running = true;
  co_await probe(self, target, ProbeKind::kReadiness);
  if (stopped_) co_return;
  bool& metrics_running = running_[target->node_id][index_of(ProbeKind::kMetrics)];
  if (metrics_running) co_return;
  metrics_running = true;
  co_await probe(self, target, ProbeKind::kMetrics);
}

void HealthMonitor::Impl::launch(const std::shared_ptr<const ProbeTarget>& target, ProbeKind kind) {
  bool& running = running_[target->node_id][index_of(kind)];
  if (running) return;  // the previous probe of this kind has not finished yet
  running = true;
  net::co_spawn(strand_, probe(shared_from_this(), target, kind), &Impl::log_exception);
}

net::awaitable<void> HealthMonitor::Impl::probe(std::shared_ptr<Impl> self, std::shared_ptr<const ProbeTarget> target,
                                                ProbeKind kind) {
  const auto started = Clock::now();
  auto io = std::make_shared<ProbeIo>(strand_);
  Outcome outcome;
  {
    Slot slot(*this, target->node_id, kind, io.get());
    outcome = co_await exchange(io, *target, kind, started + options_.timeout);
  }
  if (stopped_) co_return;
  ProbeResult result;
  result.node_id = target->node_id;
  result.kind = kind;
  result.ok = outcome.ok;
  result.error = std::move(outcome.error);
  result.status = outcome.status;
  result.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  deliver(result);
}

net::awaitable<beast::error_code> HealthMonitor::Impl::resolve(const std::shared_ptr<ProbeIo>& io,
                                                               const registry::NodeAddress& address,
                                                               Clock::time_point deadline) {
  beast::error_code ec;
  auto ip = net::ip::make_address(address.host, ec);
  if (!ec) {
    io->endpoints.emplace_back(ip, address.port);
    co_return beast::error_code{};
  }
  // The handler, not this coroutine, waits for getaddrinfo: a lookup that hangs past the deadline
  // then cannot hold the probe (or stop()) hostage. Both run on the strand.
  io->wake.expires_at(deadline);
  io->resolver.async_resolve(address.host, std::to_string(address.port),
                             [io](const beast::error_code& rec, const tcp::resolver::results_type& results) {
                               io->resolved = true;
                               io->resolve_error = rec;
                               for (const auto& entry : results) io->endpoints.push_back(entry.endpoint());
                               io->wake.cancel();
                             });
  co_await io->wake.async_wait(use_nothrow);
  if (!io->resolved) {
    io->resolver.cancel();
    co_return beast::error::timeout;
  }
  if (!io->resolve_error && io->endpoints.empty()) co_return net::error::host_not_found;
  co_return io->resolve_error;
}

net::awaitable<Outcome> HealthMonitor::Impl::exchange(const std::shared_ptr<ProbeIo>& io, const ProbeTarget& target,
                                                      ProbeKind kind, Clock::time_point deadline) {
  // After every await: stop() may have run cancel_all() meanwhile, and an operation started after
  // it would not be cancelled.
  if (stopped_) co_return Outcome{};
  if (target.address.scheme != "http") co_return failure("scheme " + target.address.scheme + " is not supported");
  if (kind == ProbeKind::kReadiness && !target.readiness_path.starts_with('/')) {
    co_return failure("no readiness request for this node");
  }

  auto rec = co_await resolve(io, target.address, deadline);
  if (stopped_) co_return Outcome{};
  if (rec) co_return failure(describe("resolve", rec, options_.timeout));

  io->stream.expires_at(deadline);  // one deadline for connect, write and read
  auto [cec, endpoint] = co_await io->stream.async_connect(io->endpoints, use_nothrow);
  if (stopped_) co_return Outcome{};
  if (cec) co_return failure(describe("connect", cec, options_.timeout));

  http::request<http::string_body> request;
  request.version(11);
  request.set(http::field::host, host_header(target.address));
  request.set(http::field::user_agent, "cic-health");
  request.set(http::field::connection, "close");
  if (kind == ProbeKind::kReadiness) {
    request.method(http::verb::post);
    request.target(target.readiness_path);
    request.set(http::field::content_type, "application/json");
    request.set(http::field::accept, "application/json");
    request.body() = target.readiness_body;
  } else {
    request.method(http::verb::get);
    request.target(kind == ProbeKind::kMetrics ? "/metrics" : "/health");
  }
  request.prepare_payload();
  auto [wec, written] = co_await http::async_write(io->stream, request, use_nothrow);
  if (stopped_) co_return Outcome{};
  if (wec) co_return failure(describe("write", wec, options_.timeout));

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kind == ProbeKind::kMetrics ? kMetricsBodyLimit : kBodyLimit);
  auto [ren, read] = co_await http::async_read(io->stream, buffer, parser, use_nothrow);
  if (stopped_) co_return Outcome{};
  if (ren) co_return failure(describe("read", ren, options_.timeout));
  beast::error_code ignored;
  io->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return evaluate(target, kind, parser.get());
}

Outcome HealthMonitor::Impl::evaluate(const ProbeTarget& target, ProbeKind kind,
                                      const http::response<http::string_body>& answer) const {
  const int status = static_cast<int>(answer.result_int());
  if (status != 200) {
    std::string error = "HTTP " + std::to_string(status);
    if (!answer.body().empty()) error += ": " + snippet(answer.body());
    return failure(std::move(error), status);
  }
  switch (kind) {
    case ProbeKind::kLiveness:
      return Outcome{true, status, {}};
    case ProbeKind::kReadiness:
      if (!readiness_answer_ok(answer.body())) {
        return failure("answer has no choices or data: " + snippet(answer.body()), status);
      }
      return Outcome{true, status, {}};
    case ProbeKind::kMetrics: {
      registry::VllmLoad load = registry::parse_vllm_metrics(answer.body());
      // A body with none of the gauges is not a vLLM /metrics page (wrong port, proxy page):
      // storing it would zero the gauges as if the node were idle.
      if (!load.has_running && !load.has_waiting && !load.has_kv) {
        return failure("no vLLM load gauges in /metrics", status);
      }
      if (target.load) registry::apply(load, *target.load);
      return Outcome{true, status, {}};
    }
  }
  return failure("unknown probe kind", status);
}

void HealthMonitor::Impl::deliver(const ProbeResult& result) {
  std::lock_guard lock(callback_mutex_);
  if (stopped_) return;
  try {
    report_(result);
  } catch (...) {
    log_exception(std::current_exception());
  }
}

HealthMonitor::HealthMonitor(boost::asio::io_context& io, HealthMonitorOptions options,
                             std::function<std::vector<ProbeTarget>()> targets,
                             std::function<void(const ProbeResult&)> report)
    : impl_(std::make_shared<Impl>(io, options, std::move(targets), std::move(report))) {}

HealthMonitor::~HealthMonitor() { impl_->stop(); }

void HealthMonitor::start() { impl_->start(); }
void HealthMonitor::stop() { impl_->stop(); }
void HealthMonitor::probe_now() { impl_->probe_now(); }

}  // namespace cic::health
