#include "upstream_pool.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace cic::gateway {

UpstreamPool::UpstreamPool(std::size_t max_idle_per_node) : max_idle_per_node_(max_idle_per_node) {}

UpstreamPool::~UpstreamPool() {
  for (auto& [id, sockets] : idle_) {
    for (auto& s : sockets) ::close(s.fd);
  }
}

std::size_t UpstreamPool::idle_count() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (auto& [id, sockets] : idle_) n += sockets.size();
  return n;
}

int UpstreamPool::pop_live_idle(const std::string& node_id, tcp& protocol) {
  for (;;) {
    IdleSocket idle{tcp::v4(), -1};
    {
      std::lock_guard lock(mutex_);
      auto it = idle_.find(node_id);
      if (it == idle_.end() || it->second.empty()) return -1;
      idle = it->second.back();
      it->second.pop_back();
    }
    // A node closes idle connections on its own schedule; a peek tells a closed (0 bytes) or
    // confused (unexpected bytes) connection from a live one (EAGAIN) without blocking.
    char byte;
    ssize_t n = ::recv(idle.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      protocol = idle.protocol;
      return idle.fd;
    }
    ::close(idle.fd);
  }
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
  lease.stream = std::make_unique<beast::tcp_stream>(executor);
  if (allow_reuse) {
    tcp protocol = tcp::v4();
    if (int fd = pop_live_idle(node.id, protocol); fd >= 0) {
      beast::error_code ec;
      lease.stream->socket().assign(protocol, fd, ec);
      if (!ec) {
        lease.reused = true;
        co_return std::pair{beast::error_code{}, std::move(lease)};
      }
      ::close(fd);
    }
  }
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
  beast::error_code ec;
  tcp protocol = stream->socket().local_endpoint(ec).protocol();
  if (ec) return;
  {
    std::lock_guard lock(mutex_);
    auto& sockets = idle_[node.id];
    if (sockets.size() >= max_idle_per_node_) return;  // stream's destructor closes it
    int fd = stream->socket().release(ec);
    if (ec) return;
    sockets.push_back(IdleSocket{protocol, fd});
  }
}

}  // namespace cic::gateway
