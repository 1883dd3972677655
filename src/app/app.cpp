#include "cic/app/app.hpp"

#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>
#include <prometheus/counter.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <fstream>
#include <thread>

#include "cic/admin/admin_api.hpp"
#include "cic/app/bootstrap.hpp"
#include "cic/auth/key_cache.hpp"
#include "cic/auth/key_hasher.hpp"
#include "cic/auth/last_used_tracker.hpp"
#include "cic/billing/month_close.hpp"
#include "cic/billing/usage_meter.hpp"
#include "cic/common/periodic_task.hpp"
#include "cic/gateway/gateway.hpp"
#include "cic/cache/redis_client.hpp"
#include "cic/limits/local_limiter.hpp"
#include "cic/limits/redis_limiter.hpp"
#include "cic/registry/health_policy.hpp"
#include "cic/registry/node_registry.hpp"
#include "cic/router/router.hpp"
#include "cic/scheduler/strategy.hpp"
#include "cic/stripe/services.hpp"
#include "cic/telemetry/logging.hpp"
#include "cic/telemetry/metrics.hpp"
#include "node_service.hpp"

namespace cic::app {
namespace net = boost::asio;

namespace {

std::unique_ptr<store::Store> open_store(const config::StoreConfig& cfg) {
  if (cfg.backend == config::StoreConfig::Backend::kPostgres) {
    return store::make_postgres_store(cfg.postgres.dsn, cfg.postgres.pool_size);
  }
  return store::make_sqlite_store(cfg.sqlite.path);
}

/// The Redis limiter together with the client it talks through (declared first: destroyed last).
class SharedLimiter final : public limits::Limiter {
 public:
  SharedLimiter(const config::LimitsConfig& cfg, const Clock& clock, prometheus::Counter& fallbacks)
      : client_(cache::RedisClientOptions{cfg.redis_url}),
        limiter_(clock, client_, options(cfg, fallbacks)) {
    // Connect before the first request: a connection opened by the first burst would time out
    // its first admissions and start this replica on local shares for no reason.
    auto answered = std::make_shared<std::promise<bool>>();
    auto ready = answered->get_future();
    client_.command({"PING"}, std::chrono::seconds(2), [answered](cache::Reply reply) { answered->set_value(!reply.is_error()); });
    if (ready.wait_for(std::chrono::seconds(3)) != std::future_status::ready || !ready.get()) {
      spdlog::warn("limits: Redis at {} does not answer yet; deciding on local shares until it does", cfg.redis_url);
    }
  }
  void admit(const limits::AdmissionRequest& request, std::function<void(limits::Admission)> done) override {
    limiter_.admit(request, std::move(done));
  }
  void settle(const std::string& reservation, const limits::Usage& actual) override { limiter_.settle(reservation, actual); }

 private:
  static limits::RedisLimiterOptions options(const config::LimitsConfig& cfg, prometheus::Counter& fallbacks) {
    limits::RedisLimiterOptions o;
    o.redis_timeout = cfg.redis_timeout;
    o.breaker_cooldown = cfg.breaker_cooldown;
    o.replicas = cfg.replicas;
    o.fail_closed = cfg.fail_closed;
    o.on_fallback = [&fallbacks] { fallbacks.Increment(); };
    return o;
  }
  cache::RedisClient client_;
  limits::RedisLimiter limiter_;
};

std::unique_ptr<limits::Limiter> make_limiter(const config::Config& config, const Clock& clock,
                                             telemetry::Metrics& metrics) {
  if (config.limits.backend == config::LimitsConfig::Backend::kRedis) {
    spdlog::info("limits: counted in Redis at {} ({} replica(s), {} ms budget)", config.limits.redis_url,
                 config.limits.replicas, config.limits.redis_timeout.count());
    return std::make_unique<SharedLimiter>(config.limits, clock, metrics.limits_fallbacks());
  }
  return std::make_unique<limits::LocalLimiter>(clock);
}

std::map<std::string, std::vector<std::string>> region_fallbacks(const config::Config& config) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& r : config.regions) out[r.name] = r.fallback;
  return out;
}

void write_ready_file(const std::string& path, std::uint16_t http_port, std::uint16_t admin_port,
                      const config::BootstrapConfig& bootstrap) {
  nlohmann::json ready{{"pid", ::getpid()}, {"http_port", http_port}, {"admin_port", admin_port}};
  if (bootstrap.enabled) ready["api_key_file"] = bootstrap.api_key_file;
  std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
  auto tmp = target;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << ready.dump() << '\n';
  }
  std::filesystem::rename(tmp, target);
}

}  // namespace

/// Clears the key cache whenever another process changed what authentication depends on.
class ChangeWatcher {
 public:
  ChangeWatcher(const config::Config& config, auth::KeyCache& cache) {
    if (config.store.backend != config::StoreConfig::Backend::kPostgres) return;
    thread_ = std::thread([this, dsn = config.store.postgres.dsn, &cache] {
      std::unique_ptr<store::ChangeListener> listener;
      while (!stopping_.load()) {
        try {
          if (!listener) listener = store::make_change_listener(dsn);
          if (listener && listener->wait(std::chrono::milliseconds(250))) cache.clear();
        } catch (const std::exception& e) {
          // Changes may have been missed while disconnected: forget everything, then retry.
          cache.clear();
          listener.reset();
          spdlog::warn("change listener: {}; retrying", e.what());
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
      }
    });
  }
  ~ChangeWatcher() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

struct App::Impl {
  Impl(config::Config cfg, AppOptions opts) : config(std::move(cfg)), options(std::move(opts)) {}

  void flush_last_used(net::thread_pool& blocking, store::Store& store, auth::LastUsedTracker& tracker) {
    auto batch = tracker.drain();
    if (batch.empty()) return;
    net::post(blocking, [&store, batch = std::move(batch)] {
      try {
        store.touch_api_keys(batch);
      } catch (const std::exception& e) {
        spdlog::warn("could not record key last use for {} key(s): {}", batch.size(), e.what());
      }
    });
  }

  void schedule_last_used_flush(net::steady_timer& timer, net::thread_pool& blocking, store::Store& store,
                                auth::LastUsedTracker& tracker) {
    timer.expires_after(config.auth.last_used_flush_interval);
    timer.async_wait([&, this](boost::system::error_code ec) {
      if (ec) return;
      flush_last_used(blocking, store, tracker);
      schedule_last_used_flush(timer, blocking, store, tracker);
    });
  }

  config::Config config;
  AppOptions options;
};

App::App(config::Config config, AppOptions options) : impl_(std::make_unique<Impl>(std::move(config), std::move(options))) {}

App::~App() = default;

int App::run() {
  const config::Config& config = impl_->config;
  telemetry::setup_logging(config.logging.level, config.logging.format);
  SystemClock clock;
  telemetry::Metrics metrics;

  auto store = open_store(config.store);
  store->migrate();
  spdlog::info("store: {} schema version {}",
               config.store.backend == config::StoreConfig::Backend::kPostgres ? "postgres" : "sqlite " + config.store.sqlite.path,
               store->schema_version());
  auth::KeyHasher hasher(config.auth.key_hash_secret);
  blocking_sync_catalog(config, *store);
  if (config.bootstrap.enabled) blocking_bootstrap(config, *store, hasher);

  registry::NodeRegistry registry;
  registry::HealthPolicy health(clock, registry::HealthPolicyOptions{
                                          static_cast<int>(config.health.consecutive_failures), config.health.eject_base,
                                          config.health.eject_max, config.health.max_ejected_share});
  std::vector<std::string> region_names, model_ids;
  for (const auto& r : config.regions) region_names.push_back(r.name);
  for (const auto& m : config.models) model_ids.push_back(m.id);
  router::Router router(registry, clock, config.routing, region_fallbacks(config), region_names, model_ids);
  auth::KeyCache key_cache(clock, config.auth.cache_ttl, config.auth.negative_cache_ttl);
  auth::LastUsedTracker last_used;
  // Usage metering: opening the write-ahead log replays what a previous run left in it (the
  // flusher writes it to the store in the background), before the gateway takes any request.
  billing::UsageMeter usage(*store, billing::meter_options(config.billing, config.store), &metrics.registry(),
                            [&metrics](std::size_t written, std::size_t duplicates) {
                              if (written) metrics.usage_records("written").Increment(static_cast<double>(written));
                              if (duplicates) metrics.usage_records("duplicate").Increment(static_cast<double>(duplicates));
                            });

  // One io_context per thread (nginx-style workers): a connection never changes threads, so the
  // data path needs no strands and no cross-thread wake-ups.
  unsigned threads = config.server.threads ? config.server.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::io_context*> context_ptrs;
  // Keeps a context's thread running while it has no connection yet (only the first one accepts).
  std::vector<net::executor_work_guard<net::io_context::executor_type>> keep_running;
  for (unsigned i = 0; i < threads; ++i) {
    contexts.push_back(std::make_unique<net::io_context>(1));
    context_ptrs.push_back(contexts.back().get());
    keep_running.push_back(net::make_work_guard(*contexts.back()));
  }
  net::io_context& main_io = *contexts.front();
  net::thread_pool blocking(config.store.blocking_threads);
  std::unique_ptr<limits::Limiter> limiter = make_limiter(config, clock, metrics);
  NodeService nodes(config, clock, *store, main_io, blocking, registry, health, metrics);
  nodes.load();
  admin::AdminDeps admin_deps{.config = config,
                              .store = *store,
                              .hasher = hasher,
                              .clock = clock,
                              .on_auth_change = [&key_cache] { key_cache.clear(); },
                              .nodes = &nodes.table(),
                              .health = &health,
                              .registry = &registry,
                              .resolve = {},
                              .on_node_added = [&nodes] { nodes.probe_now(); }};
  admin::AdminApi admin_api(std::move(admin_deps));
  // Stripe usage reporting, Stripe webhooks and alerts: own threads, whatever the config enables.
  stripe::StripeServices stripe_services(config, *store, clock, metrics.registry());
  gateway::GatewayDeps gateway_deps{config, clock, blocking, *store, hasher, key_cache, last_used,
                                    registry, router, usage, metrics, *limiter, health, nullptr};
  if (!config.admin.operator_token.empty() || stripe_services.webhook_enabled()) {
    gateway_deps.admin_api = [&admin_api, &stripe_services](const HttpCall& call) {
      // POST /webhooks/stripe (see admin_handler.cpp) is authenticated by its signature alone.
      if (call.target.starts_with("/webhooks/")) return stripe_services.handle_webhook(call);
      return admin_api.handle(call);
    };
  }
  gateway::Gateway gateway(context_ptrs, gateway_deps);
  // Other replicas' admin changes (revocations, rotations, environment edits) reach this one's key
  // cache through PostgreSQL NOTIFY, within a second; SQLite runs a single process.
  ChangeWatcher change_watcher(config, key_cache);
  gateway.start();
  nodes.start([&gateway](const std::string& node_id) { gateway.abort_node(node_id); });
  stripe_services.start();
  // Ended months are closed (invoice written, credits consumed) by blocking store work on a
  // thread of its own; a failed pass is retried at the next interval.
  PeriodicTask month_close("month close", config.billing.month_close_interval, [&] {
    const std::size_t closed =
        billing::close_due_months(*store, config, clock.unix_millis(), config.billing.month_close_delay);
    if (closed > 0) spdlog::info("billing: closed {} org month(s): invoices written, credits consumed", closed);
  });
  month_close.start();

  net::steady_timer last_used_timer(main_io);
  impl_->schedule_last_used_flush(last_used_timer, blocking, *store, last_used);

  auto stop_all = [&] {
    nodes.stop();
    last_used_timer.cancel();
    for (auto& io : contexts) io->stop();  // thread-safe; the work guards die with the contexts
  };
  net::signal_set signals(main_io, SIGTERM, SIGINT, SIGHUP);
  std::function<void()> wait_for_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        spdlog::warn("SIGHUP: configuration reload is not supported by this version; restart to apply changes");
        wait_for_signal();
        return;
      }
      spdlog::info("{} received: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      gateway.shutdown(stop_all);
      wait_for_signal();  // a second signal during the drain is absorbed; the deadline still holds
    });
  };
  wait_for_signal();

  // Ready once the nodes known at start had their first probes, so the first requests find
  // the pools filled instead of a 503.
  nodes.when_first_round_done([&] {
    if (!impl_->options.ready_file.empty()) {
      write_ready_file(impl_->options.ready_file, gateway.http_port(), gateway.admin_port(), config.bootstrap);
    }
    spdlog::info("cic-control ready: client API on port {}, admin on port {}, {} thread(s)", gateway.http_port(),
                 gateway.admin_port(), threads);
  });

  std::vector<std::thread> workers;
  for (unsigned i = 1; i < threads; ++i) workers.emplace_back([io = contexts[i].get()] { io->run(); });
  main_io.run();
  for (auto& t : workers) t.join();

  change_watcher.stop();
  stripe_services.stop();
  month_close.stop();
  impl_->flush_last_used(blocking, *store, last_used);
  blocking.join();
  // Every request has ended: what is in the log goes to the store (what the store does not take
  // in time stays in the log for the next start).
  usage.flush_and_stop(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  spdlog::info("cic-control stopped");
  return 0;
}

}  // namespace cic::app
