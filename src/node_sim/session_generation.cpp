// The generation side of a session: validation, admission (queueing at --max-concurrency),
// pacing by --ttft-ms / --inter-token-ms, streaming, fault injection and the accounting that
// /metrics, /sim/stats and /sim/requests report.
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>

#include "node_sim/embedding.hpp"
#include "node_sim/http_text.hpp"
#include "node_sim/responses.hpp"
#include "node_sim/session_impl.hpp"

namespace cic::node_sim::detail {
namespace {

using namespace asio::experimental::awaitable_operators;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// A request parked at the admission gate; the gate's waker posts to the session's strand.
struct GrantWaiter {
  explicit GrantWaiter(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
  bool granted = false;
};

}  // namespace

ResponseIdentity Session::identity() const {
  return {request_id_, ctx_.options.models[gen_.model_index].id, created_};
}

asio::awaitable<bool> Session::handle_generation(Request& request, Route route) {
  ctx_.counters.requests_total.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t sequence = ctx_.post_sequence.fetch_add(1, std::memory_order_relaxed);
  const std::string_view header_id = request["X-Request-Id"];
  if (ctx_.settings.hang.load(std::memory_order_relaxed)) co_return co_await hang(header_id);
  if (!is_json_media_type(request[http::field::content_type])) {
    co_return co_await fail(
        http_exception(415, "Unsupported Media Type: Only 'application/json' is allowed"),
        header_id);
  }
  if (auto error = parse_request(endpoint_of(route), request.body(), ctx_.options, gen_)) {
    co_return co_await fail(*error, header_id);
  }
  // vLLM's _base_request_id: the header, else the body's request_id, else a random id.
  if (!header_id.empty()) request_id_.assign(header_id);
  else if (!gen_.body_request_id.empty()) request_id_ = gen_.body_request_id;
  else request_id_ = make_random_id();
  const double error_rate = ctx_.settings.error_rate.load(std::memory_order_relaxed);
  if (should_inject_error(ctx_.options.seed, sequence, error_rate)) {
    co_return co_await fail(injected_failure(), request_id_);
  }

  created_ = static_cast<std::int64_t>(std::time(nullptr));
  record_ = ctx_.registry.open(request_id_);
  record_->prompt_tokens.store(gen_.prompt_tokens_total, std::memory_order_relaxed);
  ctx_.counters.requests_active.fetch_add(1, std::memory_order_relaxed);
  if (gen_.endpoint == Endpoint::kEmbedding) co_return co_await answer_embeddings();

  Progress progress;
  progress.arrival = Clock::now();
  plans_.resize(gen_.prompts.size());
  const GenerationLimits limits{gen_.max_tokens, gen_.min_tokens, gen_.ignore_eos, &gen_.stops};
  for (std::size_t i = 0; i < plans_.size(); ++i) {
    plan_generation(gen_.prompts[i].hash, limits, plans_[i]);
    progress.planned += plans_[i].token_count();
  }
  ttft_ms_ = ctx_.settings.ttft_ms.load(std::memory_order_relaxed);
  inter_token_ms_ = ctx_.settings.inter_token_ms.load(std::memory_order_relaxed);
  if (ctx_.gate.try_acquire()) admit(progress);

  if (progress.admitted && ttft_ms_ == 0 && inter_token_ms_ == 0 && !gen_.stream) {
    // Hot path: nothing to wait for, so no disconnect watch and no extra coroutines.
    progress.first_token = Clock::now();
    progress.has_first_token = true;
    progress.generated = progress.planned;
    body_.clear();
    if (gen_.endpoint == Endpoint::kChat) {
      append_chat_completion(body_, identity(), plans_[0], gen_.prompt_tokens_total, gen_.stops);
    } else {
      append_text_completion(body_, identity(), plans_, gen_.prompt_tokens_total, gen_.stops);
    }
    progress.finished = co_await write_body_only(200, kJson);
    if (progress.finished) progress.sent = progress.generated;
    finish(progress);
    if (progress.finished) note_emitted(progress.planned);
    co_return progress.finished && keep_alive_;
  }
  try {
    co_await (generate(progress) || watch_peer());
  } catch (const std::exception&) {
    // A failure inside generation is treated like a lost client: the answer is incomplete.
  }
  finish(progress);
  co_return progress.finished && keep_alive_;
}

asio::awaitable<bool> Session::fail(const SimError& error, std::string_view id) {
  ctx_.counters.requests_failed.fetch_add(1, std::memory_order_relaxed);
  if (!id.empty()) {
    auto record = ctx_.registry.open(id);
    record->status.store(static_cast<std::uint16_t>(error.status));
    record->finished.store(true);
  }
  body_.clear();
  append_error_json(body_, error);
  co_return co_await write_body(error.status, kJson);
}

// --hang: the request is accepted and never answered; only the client leaving ends it.
asio::awaitable<bool> Session::hang(std::string_view header_id) {
  auto record = ctx_.registry.open(header_id.empty() ? std::string_view(make_random_id()) : header_id);
  ctx_.counters.requests_active.fetch_add(1, std::memory_order_relaxed);
  co_await (wait_forever(timer_) || watch_peer());
  ctx_.counters.requests_active.fetch_sub(1, std::memory_order_relaxed);
  ctx_.counters.requests_aborted.fetch_add(1, std::memory_order_relaxed);
  record->aborted.store(true);
  record->finished.store(true);
  co_return false;
}

asio::awaitable<bool> Session::answer_embeddings() {
  const auto start = Clock::now();
  body_.clear();
  append_embedding_response(body_, identity(), gen_, embedding_scratch_);
  ModelMetrics& metrics = ctx_.metrics.model(gen_.model_index);
  metrics.prompt_tokens.fetch_add(gen_.prompt_tokens_total, std::memory_order_relaxed);
  metrics.success[static_cast<int>(FinishReason::kStop)].fetch_add(1, std::memory_order_relaxed);
  metrics.e2e.observe(seconds_between(start, Clock::now()));
  ctx_.counters.prompt_tokens_total.fetch_add(gen_.prompt_tokens_total, std::memory_order_relaxed);
  bool written = co_await write_body_only(200, kJson);
  record_->status.store(200);
  record_->aborted.store(!written);
  record_->finished.store(true);
  if (!written) ctx_.counters.requests_aborted.fetch_add(1, std::memory_order_relaxed);
  ctx_.counters.requests_active.fetch_sub(1, std::memory_order_relaxed);
  co_return written && keep_alive_;
}

void Session::admit(Progress& progress) {
  progress.admitted = true;
  ModelMetrics& metrics = ctx_.metrics.model(gen_.model_index);
  metrics.running.fetch_add(1, std::memory_order_relaxed);
  metrics.kv_tokens.fetch_add(gen_.prompt_tokens_total + progress.planned, std::memory_order_relaxed);
  metrics.prompt_tokens.fetch_add(gen_.prompt_tokens_total, std::memory_order_relaxed);
  ctx_.counters.prompt_tokens_total.fetch_add(gen_.prompt_tokens_total, std::memory_order_relaxed);
}

void Session::finish(Progress& progress) {
  ModelMetrics& metrics = ctx_.metrics.model(gen_.model_index);
  if (progress.queued) {
    // Left while waiting. If the gate handed us a slot in the meantime, give it back.
    metrics.waiting.fetch_sub(1, std::memory_order_relaxed);
    if (!ctx_.gate.withdraw(progress.ticket)) ctx_.gate.release();
  }
  if (progress.admitted) {
    ctx_.gate.release();
    metrics.running.fetch_sub(1, std::memory_order_relaxed);
    metrics.kv_tokens.fetch_sub(gen_.prompt_tokens_total + progress.planned,
                                std::memory_order_relaxed);
  }
  metrics.generation_tokens.fetch_add(progress.generated, std::memory_order_relaxed);
  ctx_.counters.completion_tokens_total.fetch_add(progress.generated, std::memory_order_relaxed);
  record_->completion_tokens.store(progress.sent, std::memory_order_relaxed);
  if (progress.finished) {
    for (const GenerationPlan& plan : plans_) {
      metrics.success[static_cast<int>(plan.finish_reason)].fetch_add(1, std::memory_order_relaxed);
    }
    if (progress.has_first_token) {
      metrics.ttft.observe(seconds_between(progress.arrival, progress.first_token));
    }
    metrics.e2e.observe(seconds_between(progress.arrival, Clock::now()));
    record_->status.store(200);
  } else {
    metrics.success[static_cast<int>(FinishReason::kAbort)].fetch_add(1, std::memory_order_relaxed);
    ctx_.counters.requests_aborted.fetch_add(1, std::memory_order_relaxed);
    record_->aborted.store(true);
  }
  record_->finished.store(true);
  ctx_.counters.requests_active.fetch_sub(1, std::memory_order_relaxed);
}

void Session::note_generated(Progress& progress) {
  if (!progress.has_first_token) {
    progress.first_token = Clock::now();
    progress.has_first_token = true;
  }
  ++progress.generated;
}

// /sim/requests reports tokens that were written, not merely generated: a token generated just
// before the client left never reached it, and a gateway billing from the stream cannot see it.
void Session::note_sent(Progress& progress) {
  progress.sent = progress.generated;
  record_->completion_tokens.store(progress.sent, std::memory_order_relaxed);
}

// Counts tokens that reached the socket, for --die-after-tokens.
void Session::note_emitted(std::uint64_t tokens) {
  const std::uint64_t total = ctx_.emitted_tokens.fetch_add(tokens, std::memory_order_relaxed) + tokens;
  const std::uint64_t limit = ctx_.options.die_after_tokens;
  if (limit != 0 && total >= limit) {
    std::fprintf(stderr, "cic-node-sim: --die-after-tokens %llu reached, exiting\n",
                 static_cast<unsigned long long>(limit));
    ::_exit(1);
  }
}

asio::awaitable<void> Session::generate(Progress& progress) {
  if (!progress.admitted && !co_await wait_for_grant(progress)) co_return;
  const Clock::time_point start = Clock::now();
  if (gen_.stream) {
    progress.finished = co_await stream_plans(progress, start);
  } else {
    progress.finished = co_await answer_after_delays(progress, start);
  }
}

asio::awaitable<bool> Session::wait_for_grant(Progress& progress) {
  auto waiter = std::make_shared<GrantWaiter>(socket_.get_executor());
  waiter->timer.expires_at(Clock::time_point::max());
  ctx_.metrics.model(gen_.model_index).waiting.fetch_add(1, std::memory_order_relaxed);
  progress.queued = true;
  progress.ticket = ctx_.gate.enqueue([waiter, executor = socket_.get_executor()] {
    asio::post(executor, [waiter] {
      waiter->granted = true;
      waiter->timer.cancel();
    });
  });
  while (!waiter->granted) {
    co_await waiter->timer.async_wait(kAsTuple);
    if (!waiter->granted) co_return false;  // cancelled: the client left while queued
  }
  progress.queued = false;
  ctx_.metrics.model(gen_.model_index).waiting.fetch_sub(1, std::memory_order_relaxed);
  admit(progress);
  co_return true;
}

asio::awaitable<bool> Session::stream_plans(Progress& progress, Clock::time_point start) {
  chunks_.reset(gen_.endpoint, identity(), gen_.prompt_tokens_total, gen_.continuous_usage);
  out_.clear();
  append_stream_head(out_, keep_alive_);
  if (gen_.endpoint == Endpoint::kChat) chunks_.append_role(out_, 0);
  if (!co_await flush()) co_return false;
  // Each token is its own write when pacing matters (delays, or --die-after-tokens counting
  // what really left); otherwise the whole stream goes out in one write.
  const bool per_token = inter_token_ms_ > 0 || ctx_.options.die_after_tokens > 0;
  Clock::time_point next = start + std::chrono::milliseconds(ttft_ms_);
  if (ttft_ms_ > 0 && !co_await sleep_until(next)) co_return false;
  bool first = true;
  for (std::size_t c = 0; c < plans_.size(); ++c) {
    const GenerationPlan& plan = plans_[c];
    const auto index = static_cast<std::uint32_t>(c);
    for (std::uint32_t i = 0; i < plan.token_count(); ++i) {
      if (!first && inter_token_ms_ > 0) {
        next += std::chrono::milliseconds(inter_token_ms_);
        if (!co_await sleep_until(next)) co_return false;
      }
      first = false;
      note_generated(progress);
      chunks_.append_piece(out_, index, plan.piece(i), i + 1);
      if (per_token) {
        if (!co_await flush()) co_return false;
        note_sent(progress);
        note_emitted(1);
      }
    }
    chunks_.append_finish(out_, index, plan, gen_.stops, plan.token_count());
  }
  if (gen_.include_usage) chunks_.append_usage_chunk(out_, progress.generated);
  StreamChunkBuilder::append_done(out_);
  append_last_chunk(out_);
  if (!co_await flush()) co_return false;
  note_sent(progress);
  if (!per_token) note_emitted(progress.generated);
  co_return true;
}

asio::awaitable<bool> Session::answer_after_delays(Progress& progress, Clock::time_point start) {
  Clock::time_point next = start + std::chrono::milliseconds(ttft_ms_);
  if (ttft_ms_ > 0 && !co_await sleep_until(next)) co_return false;
  bool first = true;
  for (std::uint32_t i = 0; i < progress.planned; ++i) {
    if (!first && inter_token_ms_ > 0) {
      next += std::chrono::milliseconds(inter_token_ms_);
      if (!co_await sleep_until(next)) co_return false;
    }
    first = false;
    note_generated(progress);
  }
  body_.clear();
  if (gen_.endpoint == Endpoint::kChat) {
    append_chat_completion(body_, identity(), plans_[0], gen_.prompt_tokens_total, gen_.stops);
  } else {
    append_text_completion(body_, identity(), plans_, gen_.prompt_tokens_total, gen_.stops);
  }
  if (!co_await write_body_only(200, kJson)) co_return false;
  note_sent(progress);
  note_emitted(progress.planned);
  co_return true;
}

}  // namespace cic::node_sim::detail
