#pragma once
// Test helpers shared by the cache and limits tests: the shared Redis from the environment, a
// private redis-server that a test may freeze (SIGSTOP) or kill, and blocking call wrappers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cic/cache/redis_client.hpp"

namespace cic::testing {

/// CIC_TEST_REDIS_URL, set by `make test` (tests/services.sh); nullopt when unset.
inline std::optional<std::string> shared_redis_url() {
  const char* url = std::getenv("CIC_TEST_REDIS_URL");
  if (url == nullptr || *url == '\0') return std::nullopt;
  return std::string(url);
}

#define CIC_REQUIRE_REDIS()                                                                          \
  do {                                                                                               \
    if (!::cic::testing::shared_redis_url()) {                                                       \
      GTEST_SKIP() << "CIC_TEST_REDIS_URL is not set: run through `make test` (tests/services.sh " \
                      "starts Redis) or export it";                                                  \
    }                                                                                                \
  } while (0)

inline int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// Blocking call, for tests only.
inline cache::Reply call(cache::RedisClient& client, std::vector<std::string> argv,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(2'000)) {
  std::promise<cache::Reply> p;
  auto f = p.get_future();
  client.command(std::move(argv), timeout, [&p](cache::Reply r) { p.set_value(std::move(r)); });
  return f.get();
}

/// Polls `ok` every 10 ms until it holds or `limit` passes.
template <class F>
bool eventually(F ok, std::chrono::milliseconds limit = std::chrono::milliseconds(3'000)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ok();
}

/// A redis-server of the test's own on a free loopback port, run in the foreground as our child
/// so the test can SIGSTOP, SIGCONT or SIGKILL it and start it again on the same port.
class RedisTestServer {
 public:
  RedisTestServer() : port_(free_tcp_port()) { start(); }
  ~RedisTestServer() { kill(); }
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  void start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string port = std::to_string(port_);
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--loglevel", "warning", "--logfile", "/dev/null", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (!eventually([this] { return ping(); }, std::chrono::milliseconds(5'000))) {
      throw std::runtime_error("redis-server did not start on port " + std::to_string(port_));
    }
  }
  void freeze() { ::kill(pid_, SIGSTOP); }
  void thaw() { ::kill(pid_, SIGCONT); }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  // A blocking PING on a fresh socket: true when the server answers +PONG.
  bool ping() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      const char cmd[] = "PING\r\n";
      char buf[16] = {};
      if (::write(fd, cmd, sizeof cmd - 1) == sizeof cmd - 1 && ::read(fd, buf, sizeof buf - 1) > 0) {
        ok = std::string(buf).rfind("+PONG", 0) == 0;
      }
    }
    ::close(fd);
    return ok;
  }

  int port_;
  pid_t pid_ = -1;
};

}  // namespace cic::testing
