#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cic::cache {

/// One Redis reply, or the reason there is none. RESP2 only (hiredis 0.14).
struct Reply {
  enum class Kind { kError, kStatus, kInteger, kString, kArray, kNil };
  Kind kind = Kind::kError;
  std::string text;            // the error message, status line or bulk string
  std::int64_t integer = 0;    // kInteger
  std::vector<Reply> elements; // kArray
  bool timed_out = false;      // kError because the call's deadline passed first

  bool is_error() const { return kind == Kind::kError; }
  /// A Redis "-NOSCRIPT ..." error: the server does not know the script's SHA1.
  bool is_noscript() const;

  static Reply error(std::string message);
  static Reply timeout();
};

struct RedisClientOptions {
  std::string url;  // redis://[:password@]host[:port][/db]
  /// How long a TCP connect (plus AUTH/SELECT) may take before it counts as failed.
  std::chrono::milliseconds connect_timeout{1'000};
  /// Wait before reconnecting after a failure, doubling per consecutive failure up to the max.
  std::chrono::milliseconds reconnect_min{25};
  std::chrono::milliseconds reconnect_max{1'000};
  /// A call timing out while nothing at all was read from the connection for this long means the
  /// server or the path to it is stuck: the connection is dropped and opened anew.
  std::chrono::milliseconds stall_after{2'000};
};

/// A handle to a Lua script registered with load_script.
struct Script {
  std::size_t index = 0;
  std::string sha1;  // lower-case hex
};

/// Asynchronous Redis client on hiredis, with its own io_context and thread, so it never blocks
/// or depends on the caller's event loops.
///
/// Every call returns at once. `done` runs on the client's thread, exactly once: with the reply,
/// or with an error Reply when the deadline passes first (`timed_out`), when not connected (fast),
/// when the connection breaks, or when the client is destroyed. A reply arriving after its
/// deadline is dropped. `done` must not block; exceptions thrown by it are swallowed (they never
/// reach hiredis).
///
/// The connection is opened lazily by the first call; calls made while it is being opened wait
/// for it (within their deadlines). After a failure it is reopened with exponential backoff;
/// calls made while disconnected fail at once. Commands are pipelined on the one connection.
///
/// All methods are thread-safe. Destroying the client stops its thread; calls still pending then
/// complete with an error before the destructor returns. It must not be destroyed from one of its
/// own callbacks.
class RedisClient {
 public:
  explicit RedisClient(RedisClientOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  /// Sends `argv` (binary-safe) as one command.
  void command(std::vector<std::string> argv, std::chrono::milliseconds timeout, std::function<void(Reply)> done);

  /// Registers a Lua script: its SHA1 is computed here, it is loaded (SCRIPT LOAD) on every new
  /// connection and it runs with EVALSHA. Call before using it; thread-safe.
  Script load_script(std::string lua);

  /// EVALSHA of a registered script. On NOSCRIPT (e.g. after SCRIPT FLUSH or a server restart)
  /// the script is loaded again and re-run, all within the one deadline.
  void eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
            std::chrono::milliseconds timeout, std::function<void(Reply)> done);

  /// True while a connection is established (a snapshot, for tests and metrics).
  bool connected() const;
  /// Connections established so far, and calls that timed out, for tests and metrics.
  std::uint64_t connects() const;
  std::uint64_t timeouts() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace cic::cache
