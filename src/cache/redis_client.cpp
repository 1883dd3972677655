#include <utility>  // before Asio (see redis_connection.hpp)

#include "cic/cache/redis_client.hpp"

#include <hiredis/async.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "redis_connection.hpp"
#include "redis_url.hpp"

namespace cic::cache {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using detail::RedisConnection;

namespace {

std::string sha1_hex(const std::string& text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

// One call in flight: its completion and its deadline. finish() runs `done` at most once.
struct Pending {
  Pending(asio::io_context& io, std::function<void(Reply)> d) : timer(io), done(std::move(d)) {}
  asio::steady_timer timer;
  std::function<void(Reply)> done;

  void finish(Reply reply) noexcept {
    if (!done) return;
    auto callback = std::move(done);
    done = nullptr;
    try {
      timer.cancel();
      callback(std::move(reply));
    } catch (...) {
      // A caller's exception must not unwind into hiredis or the io loop.
    }
  }
};

struct Queued {
  std::vector<std::string> argv;
  std::shared_ptr<Pending> pending;
};

}  // namespace

class RedisClient::Impl {
 public:
  explicit Impl(RedisClientOptions options);
  ~Impl();

  void command(std::vector<std::string> argv, std::chrono::milliseconds timeout, std::function<void(Reply)> done);
  Script load_script(std::string lua);
  void eval(const Script& script, std::vector<std::string> argv, std::chrono::milliseconds timeout,
            std::function<void(Reply)> done);

  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> timeouts{0};

 private:
  enum class State { kIdle, kResolving, kConnecting, kConnected, kBackoff, kStopped };
  struct ScriptText {
    std::string sha1;
    std::string lua;
  };

  // All below run on the io thread.
  void start(std::vector<std::string> argv, std::chrono::milliseconds timeout, std::function<void(Reply)> done);
  void run_eval(std::size_t script, std::vector<std::string> argv, Clock::time_point deadline,
                std::function<void(Reply)> done, bool retried);
  void on_timeout(const std::shared_ptr<Pending>& pending);
  void begin_connect();
  void open_context(const std::string& ip);
  void submit(const std::vector<std::string>& argv, std::shared_ptr<Pending> pending);
  void submit_internal(std::vector<std::string> argv);
  void connect_failed();
  void drop_connection();
  void fail_waiting(const std::string& why);
  void shutdown();

  static void on_reply(redisAsyncContext* context, void* reply, void* privdata) noexcept;
  static void on_connect(const redisAsyncContext* context, int status) noexcept;
  static void on_disconnect(const redisAsyncContext* context, int status) noexcept;

  const RedisClientOptions options_;
  detail::RedisEndpoint endpoint_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer connect_timer_;

  State state_ = State::kIdle;
  std::shared_ptr<RedisConnection> connection_;
  // The context connection_ was opened with: hiredis's disconnect callback comes after the
  // cleanup hook has detached connection_ from it, so callbacks are matched against this.
  const redisAsyncContext* current_context_ = nullptr;
  Clock::time_point connected_at_;
  Clock::time_point retry_at_;
  std::chrono::milliseconds backoff_{0};
  std::deque<Queued> waiting_;  // calls made while resolving the host

  mutable std::mutex scripts_mutex_;
  std::vector<ScriptText> scripts_;

  std::thread thread_;
};

RedisClient::Impl::Impl(RedisClientOptions options)
    : options_(std::move(options)),
      work_(io_.get_executor()),
      resolver_(io_),
      connect_timer_(io_) {
  auto endpoint = detail::parse_redis_url(options_.url);
  if (!endpoint) throw std::invalid_argument("bad Redis URL (want redis://host:port[/db]): " + options_.url);
  endpoint_ = *endpoint;
  thread_ = std::thread([this] { io_.run(); });
}

RedisClient::Impl::~Impl() {
  asio::post(io_, [this] { shutdown(); });
  thread_.join();
}

void RedisClient::Impl::shutdown() {
  state_ = State::kStopped;
  resolver_.cancel();
  connect_timer_.cancel();
  fail_waiting("client stopped");
  drop_connection();
  state_ = State::kStopped;
  work_.reset();  // run() returns once the cancelled waits and timers have completed
}

void RedisClient::Impl::command(std::vector<std::string> argv, std::chrono::milliseconds timeout,
                                std::function<void(Reply)> done) {
  asio::post(io_, [this, argv = std::move(argv), timeout, done = std::move(done)]() mutable {
    start(std::move(argv), timeout, std::move(done));
  });
}

Script RedisClient::Impl::load_script(std::string lua) {
  std::lock_guard lock(scripts_mutex_);
  Script s{scripts_.size(), sha1_hex(lua)};
  scripts_.push_back({s.sha1, std::move(lua)});
  // A connection already open does not know it yet; the first EVALSHA's NOSCRIPT loads it.
  return s;
}

void RedisClient::Impl::eval(const Script& script, std::vector<std::string> argv, std::chrono::milliseconds timeout,
                             std::function<void(Reply)> done) {
  asio::post(io_, [this, index = script.index, argv = std::move(argv), deadline = Clock::now() + timeout,
                   done = std::move(done)]() mutable {
    run_eval(index, std::move(argv), deadline, std::move(done), false);
  });
}

void RedisClient::Impl::run_eval(std::size_t script, std::vector<std::string> argv, Clock::time_point deadline,
                                 std::function<void(Reply)> done, bool retried) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  auto argv_copy = retried ? std::vector<std::string>{} : argv;
  start(std::move(argv), left,
        [this, script, argv = std::move(argv_copy), deadline, done = std::move(done), retried](Reply reply) mutable {
          if (!reply.is_noscript() || retried || Clock::now() >= deadline) {
            done(std::move(reply));
            return;
          }
          // The server lost the script (SCRIPT FLUSH, restart): load it, then run it again. Both
          // go down the one connection in order, so the EVALSHA finds it.
          std::string lua;
          {
            std::lock_guard lock(scripts_mutex_);
            lua = scripts_.at(script).lua;
          }
          submit_internal({"SCRIPT", "LOAD", std::move(lua)});
          run_eval(script, std::move(argv), deadline, std::move(done), true);
        });
}

void RedisClient::Impl::start(std::vector<std::string> argv, std::chrono::milliseconds timeout,
                              std::function<void(Reply)> done) {
  auto pending = std::make_shared<Pending>(io_, std::move(done));
  if (state_ == State::kStopped) return pending->finish(Reply::error("client stopped"));
  if (timeout <= std::chrono::milliseconds(0)) return pending->finish(Reply::timeout());
  pending->timer.expires_after(timeout);
  pending->timer.async_wait([this, pending](const boost::system::error_code& ec) {
    if (!ec) on_timeout(pending);
  });

  if (state_ == State::kBackoff && Clock::now() >= retry_at_) state_ = State::kIdle;
  if (state_ == State::kIdle) begin_connect();
  switch (state_) {
    case State::kResolving:
      waiting_.push_back({std::move(argv), std::move(pending)});
      break;
    case State::kConnecting:
    case State::kConnected:
      submit(argv, std::move(pending));
      break;
    default:
      pending->finish(Reply::error("not connected to Redis"));  // fail fast during the backoff
  }
}

void RedisClient::Impl::on_timeout(const std::shared_ptr<Pending>& pending) {
  if (!pending->done) return;
  ++timeouts;
  pending->finish(Reply::timeout());
  // Nothing read for a long time while calls time out: the server or the path is stuck (a
  // frozen server still accepts bytes into its socket buffer). Start over on a new connection.
  if (state_ == State::kConnected && connection_ &&
      Clock::now() - std::max(connection_->last_read(), connected_at_) > options_.stall_after) {
    drop_connection();
  }
}

void RedisClient::Impl::begin_connect() {
  state_ = State::kResolving;
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || (state_ != State::kResolving && state_ != State::kConnecting)) return;
    resolver_.cancel();
    connect_failed();
  });
  // getaddrinfo would block this thread; the resolver runs it elsewhere.
  resolver_.async_resolve(endpoint_.host, endpoint_.port,
                          [this](const boost::system::error_code& ec, asio::ip::tcp::resolver::results_type results) {
                            if (state_ != State::kResolving) return;
                            if (ec || results.empty()) return connect_failed();
                            open_context(results.begin()->endpoint().address().to_string());
                          });
}

void RedisClient::Impl::open_context(const std::string& ip) {
  redisAsyncContext* context = redisAsyncConnect(ip.c_str(), std::stoi(endpoint_.port));
  if (context == nullptr) return connect_failed();
  if (context->err) {
    redisAsyncFree(context);
    return connect_failed();
  }
  connection_ = std::make_shared<RedisConnection>(io_, context);
  connection_->attach();
  current_context_ = context;
  context->data = this;
  redisAsyncSetConnectCallback(context, &Impl::on_connect);
  redisAsyncSetDisconnectCallback(context, &Impl::on_disconnect);
  state_ = State::kConnecting;

  // hiredis buffers commands until the connect completes; these go first, in this order.
  if (!endpoint_.password.empty()) submit_internal({"AUTH", endpoint_.password});
  if (endpoint_.db != 0) submit_internal({"SELECT", std::to_string(endpoint_.db)});
  {
    std::lock_guard lock(scripts_mutex_);
    for (const auto& s : scripts_) submit_internal({"SCRIPT", "LOAD", s.lua});
  }
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& q : waiting) {
    if (q.pending->done) submit(q.argv, std::move(q.pending));  // skip calls already timed out
  }
}

void RedisClient::Impl::submit(const std::vector<std::string>& argv, std::shared_ptr<Pending> pending) {
  redisAsyncContext* context = connection_ ? connection_->context() : nullptr;
  if (context == nullptr) return pending->finish(Reply::error("not connected to Redis"));
  std::vector<const char*> args;
  std::vector<size_t> lens;
  args.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* holder = new std::shared_ptr<Pending>(pending);
  if (redisAsyncCommandArgv(context, &Impl::on_reply, holder, static_cast<int>(args.size()), args.data(),
                            lens.data()) != REDIS_OK) {
    delete holder;
    pending->finish(Reply::error("Redis connection is closing"));
  }
}

// Commands of our own (AUTH, SELECT, SCRIPT LOAD): an AUTH or SELECT error makes the connection
// useless, so it is dropped; the drop is posted because this runs inside a hiredis callback.
void RedisClient::Impl::submit_internal(std::vector<std::string> argv) {
  bool essential = argv[0] == "AUTH" || argv[0] == "SELECT";
  auto pending = std::make_shared<Pending>(io_, [this, essential](Reply reply) {
    if (essential && reply.is_error() && !reply.text.empty() && reply.text != "connection closed") {
      asio::post(io_, [this] { drop_connection(); });
    }
  });
  submit(argv, std::move(pending));
}

void RedisClient::Impl::on_reply(redisAsyncContext*, void* reply, void* privdata) noexcept {
  std::unique_ptr<std::shared_ptr<Pending>> holder(static_cast<std::shared_ptr<Pending>*>(privdata));
  try {
    if ((*holder)->done) (*holder)->finish(detail::convert_reply(static_cast<redisReply*>(reply)));
  } catch (...) {
  }
}

void RedisClient::Impl::on_connect(const redisAsyncContext* context, int status) noexcept {
  auto* self = static_cast<Impl*>(context->data);
  if (self->current_context_ != context) return;
  if (status == REDIS_OK) {
    self->state_ = State::kConnected;
    self->connected_at_ = Clock::now();
    self->backoff_ = std::chrono::milliseconds(0);
    self->connected = true;
    ++self->connects;
    self->connect_timer_.cancel();
  } else {
    // hiredis frees the context after this callback; the cleanup hook releases the socket.
    self->current_context_ = nullptr;
    self->connection_.reset();
    self->connect_failed();
  }
}

void RedisClient::Impl::on_disconnect(const redisAsyncContext* context, int) noexcept {
  auto* self = static_cast<Impl*>(context->data);
  if (self->current_context_ != context) return;  // we dropped it ourselves
  self->current_context_ = nullptr;
  self->connection_.reset();
  self->connected = false;
  if (self->state_ != State::kStopped) self->connect_failed();
}

void RedisClient::Impl::connect_failed() {
  connected = false;
  if (state_ == State::kStopped) return;
  connect_timer_.cancel();
  current_context_ = nullptr;
  if (connection_) {
    auto c = std::move(connection_);
    c->free_context();
  }
  backoff_ = std::clamp(backoff_ * 2, options_.reconnect_min, options_.reconnect_max);
  retry_at_ = Clock::now() + backoff_;
  state_ = State::kBackoff;
  fail_waiting("cannot connect to Redis");
}

void RedisClient::Impl::drop_connection() {
  connected = false;
  current_context_ = nullptr;
  if (connection_) {
    auto c = std::move(connection_);  // cleared first: on_disconnect must not see it as current
    c->free_context();                // pending calls complete with "connection closed"
  }
  if (state_ != State::kStopped) {
    connect_timer_.cancel();
    backoff_ = std::clamp(backoff_ * 2, options_.reconnect_min, options_.reconnect_max);
    retry_at_ = Clock::now() + backoff_;
    state_ = State::kBackoff;
  }
}

void RedisClient::Impl::fail_waiting(const std::string& why) {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& q : waiting) q.pending->finish(Reply::error(why));
}

RedisClient::RedisClient(RedisClientOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {}

RedisClient::~RedisClient() = default;

void RedisClient::command(std::vector<std::string> argv, std::chrono::milliseconds timeout,
                          std::function<void(Reply)> done) {
  impl_->command(std::move(argv), timeout, std::move(done));
}

Script RedisClient::load_script(std::string lua) { return impl_->load_script(std::move(lua)); }

void RedisClient::eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
                       std::chrono::milliseconds timeout, std::function<void(Reply)> done) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(script.sha1);
  argv.push_back(std::to_string(keys.size()));
  for (auto& k : keys) argv.push_back(std::move(k));
  for (auto& a : args) argv.push_back(std::move(a));
  impl_->eval(script, std::move(argv), timeout, std::move(done));
}

bool RedisClient::connected() const { return impl_->connected.load(); }
std::uint64_t RedisClient::connects() const { return impl_->connects.load(); }
std::uint64_t RedisClient::timeouts() const { return impl_->timeouts.load(); }

}  // namespace cic::cache
