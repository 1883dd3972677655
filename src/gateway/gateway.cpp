#include "cic/gateway/gateway.hpp"

#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>

#include "admin_handler.hpp"
#include "api_handler.hpp"
#include "session.hpp"

namespace cic::gateway {
namespace {

tcp::endpoint resolve_listen(const config::ListenAddress& listen) {
  std::string host = listen.host == "localhost" ? "127.0.0.1" : listen.host;
  return tcp::endpoint(net::ip::make_address(host), listen.port);
}

std::unique_ptr<net::ssl::context> make_tls_context(const config::TlsConfig& tls) {
  if (!tls.enabled()) return nullptr;
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  // TLS 1.2 and newer only.
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                   net::ssl::context::single_dh_use);
  ctx->use_certificate_chain_file(tls.cert_file);
  ctx->use_private_key_file(tls.key_file, net::ssl::context::pem);
  return ctx;
}

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("connection task failed: {}", ex.what());
  }
}

}  // namespace

/// One listening socket (on the first io_context) with its handler and optional TLS.
struct Listener {
  std::string name;
  tcp::acceptor acceptor;
  std::shared_ptr<net::ssl::context> tls;
  std::shared_ptr<SessionContext> session;
};

struct Gateway::Impl {
  Impl(std::vector<net::io_context*> ios, GatewayDeps deps)
      : ios(std::move(ios)),
        deps(deps),
        upstream(deps.config.upstream.max_idle_connections_per_node),
        api(ApiDeps{deps.config, deps.clock, deps.blocking, deps.store, deps.hasher, deps.key_cache, deps.last_used,
                    deps.router, upstream, deps.usage, deps.metrics, deps.limiter, deps.health, [this] { return ready(); }}),
        admin(deps.metrics, [this] { return ready(); }, deps.blocking, deps.admin_api),
        grace_timer(*this->ios.front()) {}

  bool ready() const { return started.load() && !draining.load(); }

  std::unique_ptr<Listener> open_listener(const std::string& name, const config::ListenAddress& address,
                                          const config::TlsConfig& tls, RequestHandler& handler) {
    auto session = std::make_shared<SessionContext>(
        SessionContext{deps.config.server.limits, handler, tracker, [this] { return draining.load(std::memory_order_relaxed); }});
    auto listener = std::unique_ptr<Listener>(new Listener{name, tcp::acceptor(*ios.front()), make_tls_context(tls), session});
    auto endpoint = resolve_listen(address);
    listener->acceptor.open(endpoint.protocol());
    listener->acceptor.set_option(net::socket_base::reuse_address(true));
    listener->acceptor.bind(endpoint);
    listener->acceptor.listen(net::socket_base::max_listen_connections);
    spdlog::info("{} listening on {}:{}{}", name, endpoint.address().to_string(), listener->acceptor.local_endpoint().port(),
                 listener->tls ? " (TLS)" : "");
    return listener;
  }

  net::awaitable<void> serve(tcp::socket socket, Listener& listener) {
    auto& gauge = deps.metrics.connections();
    gauge.Increment();
    beast::tcp_stream stream(std::move(socket));
    if (listener.tls) {
      net::ssl::stream<beast::tcp_stream> tls_stream(std::move(stream), *listener.tls);
      beast::get_lowest_layer(tls_stream).expires_after(deps.config.server.limits.read_timeout);
      auto [ec] = co_await tls_stream.async_handshake(net::ssl::stream_base::server, use_nothrow);
      if (!ec) {
        co_await serve_connection(tls_stream, *listener.session);
        beast::get_lowest_layer(tls_stream).expires_after(std::chrono::seconds(2));
        co_await tls_stream.async_shutdown(use_nothrow);
      }
    } else {
      co_await serve_connection(stream, *listener.session);
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
    gauge.Decrement();
    maybe_drained();
  }

  net::awaitable<void> accept_loop(Listener& listener) {
    for (;;) {
      // Each io_context is run by one thread, so a connection needs no strand: everything of it
      // runs on the thread that accepted it.
      auto [ec, socket] = co_await listener.acceptor.async_accept(use_nothrow);
      if (ec) {
        if (ec == net::error::operation_aborted || !listener.acceptor.is_open()) co_return;
        // Out of file descriptors and similar: back off briefly instead of spinning.
        spdlog::warn("{}: accept failed: {}", listener.name, ec.message());
        net::steady_timer pause(listener.acceptor.get_executor(), std::chrono::milliseconds(50));
        co_await pause.async_wait(use_nothrow);
        continue;
      }
      if (tracker.connections() >= deps.config.server.limits.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);
        continue;
      }
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      hand_off(std::move(socket), listener);
    }
  }

  // Connections are dealt round-robin to the io_contexts (one thread each), which balances them
  // exactly; SO_REUSEPORT's hashing left one thread with noticeably more. A connection then stays
  // on its context for life.
  void hand_off(tcp::socket socket, Listener& listener) {
    net::io_context& target = *ios[next_context.fetch_add(1, std::memory_order_relaxed) % ios.size()];
    if (&net::query(socket.get_executor(), net::execution::context) == &target) {
      net::co_spawn(target, serve(std::move(socket), listener), log_exception);
      return;
    }
    beast::error_code ec;
    tcp protocol = socket.local_endpoint(ec).protocol();
    int fd = ec ? -1 : socket.release(ec);
    if (ec || fd < 0) return;  // the socket closes itself
    net::post(target, [this, &target, &listener, protocol, fd] {
      tcp::socket moved(target);
      beast::error_code aec;
      moved.assign(protocol, fd, aec);
      if (aec) {
        ::close(fd);
        return;
      }
      net::co_spawn(target, serve(std::move(moved), listener), log_exception);
    });
  }

  void maybe_drained() {
    if (!draining.load() || tracker.active_requests() != 0) return;
    // The grace timer may still fire later; the flag makes whichever comes second a no-op.
    if (on_drained_called.exchange(true)) return;
    if (on_drained) on_drained();
  }

  std::vector<net::io_context*> ios;
  GatewayDeps deps;
  UpstreamPool upstream;
  ConnectionTracker tracker;
  ApiHandler api;
  AdminHandler admin;
  std::unique_ptr<Listener> api_listener;
  std::unique_ptr<Listener> admin_listener;
  std::atomic<bool> started{false};
  std::atomic<bool> draining{false};
  std::atomic<bool> on_drained_called{false};
  std::atomic<bool> shutdown_requested{false};
  std::atomic<std::size_t> next_context{0};
  std::function<void()> on_drained;
  net::steady_timer grace_timer;
};

Gateway::Gateway(std::vector<net::io_context*> contexts, GatewayDeps deps)
    : impl_(std::make_unique<Impl>(std::move(contexts), deps)) {
  if (impl_->ios.empty()) throw std::invalid_argument("Gateway needs at least one io_context");
}

Gateway::~Gateway() = default;

void Gateway::start() {
  auto& cfg = impl_->deps.config;
  impl_->api_listener = impl_->open_listener("client API", cfg.server.listen, cfg.server.tls, impl_->api);
  impl_->admin_listener = impl_->open_listener("admin", cfg.admin.listen, cfg.admin.tls, impl_->admin);
  for (Listener* listener : {impl_->api_listener.get(), impl_->admin_listener.get()}) {
    net::co_spawn(listener->acceptor.get_executor(), impl_->accept_loop(*listener), log_exception);
  }
  impl_->started = true;
}

std::uint16_t Gateway::http_port() const { return impl_->api_listener->acceptor.local_endpoint().port(); }

std::uint16_t Gateway::admin_port() const { return impl_->admin_listener->acceptor.local_endpoint().port(); }

bool Gateway::draining() const { return impl_->draining.load(); }

std::size_t Gateway::active_requests() const { return impl_->tracker.active_requests(); }

void Gateway::abort_node(const std::string& node_id) {
  for (net::io_context* io : impl_->ios) {
    net::post(*io, [node_id] {
      if (std::size_t cut = ApiHandler::abort_node_on_this_thread(node_id)) {
        spdlog::warn("node {}: eviction deadline passed; cut off {} request(s) still on it", node_id, cut);
      }
    });
  }
}

void Gateway::shutdown(std::function<void()> on_drained) {
  Impl* impl = impl_.get();
  if (impl->shutdown_requested.exchange(true)) return;
  // Set the callback before `draining`: a session that sees draining may call it at once.
  impl->on_drained = std::move(on_drained);
  impl->draining.store(true);
  // The acceptors live on the first context; idle connections are closed on their own (close_idle posts).
  net::post(*impl->ios.front(), [impl] {
    beast::error_code ec;
    impl->api_listener->acceptor.close(ec);
    impl->admin_listener->acceptor.close(ec);
  });
  impl->tracker.close_idle();
  net::post(*impl->ios.front(), [impl] {
    spdlog::info("draining: {} request(s) in flight, grace {} ms", impl->tracker.active_requests(),
                 impl->deps.config.server.shutdown_grace.count());
    impl->grace_timer.expires_after(impl->deps.config.server.shutdown_grace);
    impl->grace_timer.async_wait([impl](beast::error_code ec) {
      if (ec || impl->on_drained_called.exchange(true)) return;
      spdlog::warn("drain deadline reached with {} request(s) in flight", impl->tracker.active_requests());
      if (impl->on_drained) impl->on_drained();
    });
    impl->maybe_drained();
  });
}

}  // namespace cic::gateway
