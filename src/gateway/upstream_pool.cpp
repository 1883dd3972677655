#include "upstream_pool.hpp"

namespace cic::gateway {
namespace {

const void* context_of(const net::any_io_executor& executor) {
  return &net::query(executor, net::execution::context);
}

}  // namespace

UpstreamPool::UpstreamPool(std::size_t max_idle_per_node) : max_idle_per_node_(max_idle_per_node) {}

UpstreamPool::~UpstreamPool() = default;

std::size_t UpstreamPool::idle_count() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (auto& [key, streams] : idle_) n += streams.size();
  return n;
}

std::unique_ptr<beast::tcp_stream> UpstreamPool::pop_idle(const Key& key) {
  // No liveness probe here: a connection the node closed fails before any byte of an answer, and
  // the forwarder then retries once on a fresh connection. That is cheaper than a syscall per
  // request to find out in advance.
  std::lock_guard lock(mutex_);
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  auto stream = std::move(it->second.back());
  it->second.pop_back();
  return stream;
}

net::awaitable<std::pair<beast::error_code, tcp::endpoint>> UpstreamPool::endpoint_for(const registry::Node& node) {
  std::string key = node.address.host + ":" + std::to_string(node.address.port);
  {
    std::lock_guard lock(mutex_);
    if (auto it = endpoints_.find(key); it != endpoints_.end()) co_return std::pair{beast::error_code{}, it->second};
  }
  beast::error_code ec;
  auto address = net::ip::make_address(node.address.host, ec);
  tcp::endpoint endpoint;
  if (!ec) {
    endpoint = tcp::endpoint(address, node.address.port);
  } else {
    // Asio runs getaddrinfo on its own resolver thread, so this does not block the loop.
    tcp::resolver resolver(co_await net::this_coro::executor);
    auto [rec, results] = co_await resolver.async_resolve(node.address.host, std::to_string(node.address.port), use_nothrow);
    if (rec || results.empty()) co_return std::pair{rec ? rec : net::error::host_not_found, tcp::endpoint{}};
    endpoint = results.begin()->endpoint();
  }
  std::lock_guard lock(mutex_);
  endpoints_.insert_or_assign(key, endpoint);
  co_return std::pair{beast::error_code{}, endpoint};
}

net::awaitable<std::pair<beast::error_code, UpstreamPool::Lease>> UpstreamPool::acquire(
    const registry::Node& node, std::chrono::milliseconds connect_timeout, bool allow_reuse) {
  auto executor = co_await net::this_coro::executor;
  Lease lease;
  if (allow_reuse) {
    if (auto idle = pop_idle(Key{node.id, context_of(executor)})) {
      lease.stream = std::move(idle);
      lease.reused = true;
      co_return std::pair{beast::error_code{}, std::move(lease)};
    }
  }
  lease.stream = std::make_unique<beast::tcp_stream>(executor);
  auto [rec, endpoint] = co_await endpoint_for(node);
  if (rec) co_return std::pair{rec, std::move(lease)};
  lease.stream->expires_after(connect_timeout);
  auto [ec] = co_await lease.stream->async_connect(endpoint, use_nothrow);
  if (ec) co_return std::pair{ec, std::move(lease)};
  lease.stream->socket().set_option(tcp::no_delay(true), ec);
  co_return std::pair{beast::error_code{}, std::move(lease)};
}

void UpstreamPool::release(const registry::Node& node, std::unique_ptr<beast::tcp_stream> stream) {
  if (!stream || !stream->socket().is_open()) return;
  stream->expires_never();
  Key key{node.id, context_of(stream->get_executor())};
  std::lock_guard lock(mutex_);
  auto& streams = idle_[key];
  if (streams.size() >= max_idle_per_node_) return;  // the stream's destructor closes it
  streams.push_back(std::move(stream));
}

}  // namespace cic::gateway
