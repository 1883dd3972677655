#pragma once
// Private to cic-node-sim's two session translation units (session.cpp: connection loop and
// plain endpoints; session_generation.cpp: generation requests). Heavy with Asio and Beast:
// include it nowhere else.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "node_sim/control.hpp"
#include "node_sim/generator.hpp"
#include "node_sim/request_parse.hpp"
#include "node_sim/sim_error.hpp"
#include "node_sim/sim_state.hpp"
#include "node_sim/stream_chunks.hpp"

namespace cic::node_sim::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Request = http::request<http::string_body>;

inline constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
inline constexpr std::string_view kJson = "application/json";

/// What happened to one generation request. It lives in the frame that outlives the race
/// between generation and the disconnect watch, so the books are right whichever won.
struct Progress {
  Clock::time_point arrival;
  Clock::time_point first_token;
  std::uint64_t ticket = 0;
  std::uint32_t planned = 0;    // tokens the plans hold
  std::uint32_t generated = 0;  // tokens produced so far
  std::uint32_t sent = 0;       // tokens whose bytes reached the socket (what a client can count)
  bool queued = false;
  bool admitted = false;
  bool has_first_token = false;
  bool finished = false;  // the whole answer reached the socket
};

/// One connection. All its coroutines run on the socket's strand.
class Session {
 public:
  Session(SimContext& ctx, tcp::socket socket);
  asio::awaitable<void> run();

 private:
  // session.cpp: the connection.
  asio::awaitable<void> serve();
  asio::awaitable<void> idle_watchdog();
  asio::awaitable<bool> handle(Request& request);
  asio::awaitable<bool> write_body(unsigned status, std::string_view content_type);
  asio::awaitable<bool> write_body_only(unsigned status, std::string_view content_type);
  asio::awaitable<bool> flush();
  asio::awaitable<bool> sleep_until(Clock::time_point deadline);
  asio::awaitable<void> watch_peer();
  static asio::awaitable<void> wait_forever(asio::steady_timer& timer);

  // session_generation.cpp: /v1 generation and embedding requests.
  asio::awaitable<bool> handle_generation(Request& request, Route route);
  asio::awaitable<bool> fail(const SimError& error, std::string_view header_id);
  asio::awaitable<bool> hang(std::string_view header_id);
  asio::awaitable<bool> answer_embeddings();
  asio::awaitable<void> generate(Progress& progress);
  asio::awaitable<bool> wait_for_grant(Progress& progress);
  asio::awaitable<bool> stream_plans(Progress& progress, Clock::time_point start);
  asio::awaitable<bool> answer_after_delays(Progress& progress, Clock::time_point start);
  void admit(Progress& progress);
  void finish(Progress& progress);
  void note_generated(Progress& progress);
  /// Everything generated so far has been written: publish it as the request's count.
  void note_sent(Progress& progress);
  void note_emitted(std::uint64_t tokens);
  ResponseIdentity identity() const;

  SimContext& ctx_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  asio::steady_timer timer_;       // ttft and inter-token pacing, --hang
  asio::steady_timer idle_timer_;  // keep-alive timeout
  asio::steady_timer peer_timer_;  // parks watch_peer when a client floods us
  Clock::time_point last_activity_;
  bool busy_ = false;
  bool keep_alive_ = true;
  // Per-request scratch, reused so steady-state requests allocate little.
  std::string head_;
  std::string body_;
  std::string out_;
  GenerationRequest gen_;
  std::vector<GenerationPlan> plans_;
  StreamChunkBuilder chunks_;
  std::vector<float> embedding_scratch_;
  std::string request_id_;
  std::shared_ptr<RequestRecord> record_;
  std::int64_t created_ = 0;
  std::uint32_t ttft_ms_ = 0;
  std::uint32_t inter_token_ms_ = 0;
};

}  // namespace cic::node_sim::detail
