#include "probe_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

extern char** environ;

namespace cic::health::testing {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int connect_local(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool wait_until(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// --- NodeSim ---

NodeSim::NodeSim(std::vector<std::string> args, std::uint16_t port) {
  static std::atomic<int> counter{0};
  ready_file_ = (std::filesystem::temp_directory_path() /
                 ("cic-health-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".json"))
                    .string();
  std::filesystem::remove(ready_file_);
  std::vector<std::string> argv_strings{CIC_NODE_SIM_PATH, "--listen", "127.0.0.1:" + std::to_string(port),
                                        "--ready-file", ready_file_};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  // posix_spawn, not fork: the test process may already run an io thread.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + std::string(CIC_NODE_SIM_PATH));

  bool ready = wait_until(
      [this] {
        auto doc = nlohmann::json::parse(read_file(ready_file_), nullptr, false);
        if (!doc.is_object() || !doc.contains("port")) return false;
        port_ = doc["port"].get<std::uint16_t>();
        return true;
      },
      20s);
  if (!ready) {
    kill();
    throw std::runtime_error("cic-node-sim did not become ready");
  }
}

NodeSim::~NodeSim() {
  kill();
  std::error_code ignored;
  std::filesystem::remove(ready_file_, ignored);
}

void NodeSim::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

// --- ScriptedServer ---

ScriptedServer::ScriptedServer(std::string reply) : reply_(std::move(reply)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot listen");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

ScriptedServer::~ScriptedServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void ScriptedServer::serve() {
  while (!stop_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 20) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    if (!reply_.empty()) {
      // Read up to the end of the request head (bounded), then answer and close.
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
        pollfd cfd{fd, POLLIN, 0};
        if (::poll(&cfd, 1, 1000) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      send_all(fd, reply_);
    }
    ::close(fd);
  }
}

// --- HTTP client ---

std::optional<std::string> http_get(std::uint16_t port, const std::string& path) {
  int fd = connect_local(port);
  if (fd < 0) return std::nullopt;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::string answer;
  if (send_all(fd, request)) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto head_end = answer.find("\r\n\r\n");
  if (!answer.starts_with("HTTP/1.1 200") || head_end == std::string::npos) return std::nullopt;
  return answer.substr(head_end + 4);
}

int post_and_hold(std::uint16_t port, const std::string& path, const std::string& body) {
  int fd = connect_local(port);
  if (fd < 0) return -1;
  std::string request = "POST " + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
  if (!send_all(fd, request)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// --- Recorder ---

void Recorder::add(const ProbeResult& result) {
  {
    std::lock_guard lock(mutex_);
    results_.push_back(result);
  }
  changed_.notify_all();
}

std::vector<ProbeResult> Recorder::all() const {
  std::lock_guard lock(mutex_);
  return results_;
}

std::size_t Recorder::size() const {
  std::lock_guard lock(mutex_);
  return results_.size();
}

std::size_t Recorder::count(const std::string& node_id, ProbeKind kind) const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& r : results_) n += r.node_id == node_id && r.kind == kind;
  return n;
}

std::optional<ProbeResult> Recorder::wait_for(const std::function<bool(const ProbeResult&)>& match,
                                              std::chrono::milliseconds timeout, std::size_t from) const {
  std::unique_lock lock(mutex_);
  std::optional<ProbeResult> found;
  changed_.wait_for(lock, timeout, [&] {
    for (std::size_t i = from; i < results_.size(); ++i) {
      if (match(results_[i])) {
        found = results_[i];
        return true;
      }
    }
    return false;
  });
  return found;
}

std::function<bool(const ProbeResult&)> is(const std::string& node_id, ProbeKind kind) {
  return [node_id, kind](const ProbeResult& r) { return r.node_id == node_id && r.kind == kind; };
}

std::function<bool(const ProbeResult&)> is(const std::string& node_id, ProbeKind kind, bool ok) {
  return [node_id, kind, ok](const ProbeResult& r) { return r.node_id == node_id && r.kind == kind && r.ok == ok; };
}

}  // namespace cic::health::testing
