#include "node_service.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <set>

#include "cic/admin/node_records.hpp"
#include "cic/health/health_monitor.hpp"
#include "node_metrics.hpp"

namespace cic::app {
namespace net = boost::asio;

namespace {

constexpr auto kTickInterval = std::chrono::milliseconds(250);
// How often heartbeats are written to the store and, on PostgreSQL, the table is brought in line
// with what other replicas wrote there.
constexpr auto kSyncInterval = std::chrono::seconds(2);

registry::NodeTableOptions table_options(const config::Config& config) {
  registry::NodeTableOptions o;
  o.heartbeat_timeout = config.registry.heartbeat_timeout;
  o.readiness_interval = config.health.readiness_interval;
  o.metrics_interval = config.health.metrics_interval;
  o.unhealthy_threshold = static_cast<int>(config.health.unhealthy_threshold);
  o.healthy_threshold = static_cast<int>(config.health.healthy_threshold);
  o.forget_after = config.registry.forget_after;
  return o;
}

}  // namespace

struct NodeService::Impl {
  Impl(const config::Config& config, const Clock& clock, store::Store& store, net::io_context& io,
       net::thread_pool& blocking, registry::NodeRegistry& registry, registry::HealthPolicy& health,
       telemetry::Metrics& metrics)
      : config(config),
        store(store),
        io(io),
        persist(net::make_strand(blocking)),
        registry(registry),
        health(health),
        table(registry, clock, table_options(config)),
        node_metrics(metrics, table, registry, health),
        tick_timer(io),
        sync_timer(io),
        first_round_timer(io) {
    metrics.on_collect([this] { node_metrics.refresh(); });
    // Lifecycle changes made by the prober and the ticker are persisted in order, off the loop;
    // the admin API persists its own changes (with their audit records) before they get here.
    // Only the state of a row that still exists is written: another replica may have deleted
    // the node meanwhile, and an insert here would bring it back on every replica.
    table.set_listeners(
        [this](const registry::NodeInfo& node) {
          net::post(persist, [this, row = admin::to_record(node)] {
            try {
              if (!this->store.update_node_state(row.id, row.state, row.eviction_deadline, row.updated_at, nullptr)) {
                spdlog::info("node {}: not in the store any more (deleted elsewhere); state {} not kept", row.id,
                             row.state);
              }
            } catch (const std::exception& e) {
              spdlog::warn("node {}: could not persist state {}: {}", row.id, row.state, e.what());
            }
          });
        },
        [this](const std::string& id) {
          this->health.forget(id);
          net::post(persist, [this, id] {
            try {
              this->store.delete_node(id, nullptr);
            } catch (const std::exception& e) {
              spdlog::warn("node {}: could not delete it from the store: {}", id, e.what());
            }
          });
        });
  }

  std::vector<health::ProbeTarget> targets() {
    std::vector<health::ProbeTarget> out;
    for (auto& plan : table.probe_plan()) {
      health::ProbeTarget t;
      t.node_id = std::move(plan.node_id);
      t.address = std::move(plan.address);
      t.scrape_metrics = plan.scrape_metrics;
      t.load = std::move(plan.load);
      if (plan.check_readiness) {
        const config::ModelConfig* model = config.find_model(plan.model);
        auto [path, body] = health::readiness_request(plan.model, model ? config::to_string(model->kind) : "chat");
        t.check_readiness = !path.empty();
        t.readiness_path = std::move(path);
        t.readiness_body = std::move(body);
      }
      out.push_back(std::move(t));
    }
    if (!first_round_planned) {
      first_round_planned = true;
      for (const auto& t : out) awaiting_first.insert(t.node_id);
      if (awaiting_first.empty()) finish_first_round();
    }
    return out;
  }

  void report(const health::ProbeResult& r) {
    if (r.kind == health::ProbeKind::kLiveness) {
      table.report_liveness(r.node_id, r.ok, r.error);
      if (!r.ok) spdlog::warn("node {}: liveness probe failed: {}", r.node_id, r.error);
    } else if (r.kind == health::ProbeKind::kReadiness) {
      table.report_readiness(r.node_id, r.ok, r.error);
      if (!r.ok) spdlog::warn("node {}: readiness probe failed: {}", r.node_id, r.error);
    } else if (!r.ok) {
      spdlog::debug("node {}: metrics scrape failed: {}", r.node_id, r.error);
    }
    if (!first_round_finished && r.kind != health::ProbeKind::kMetrics) {
      // A node is settled for the first round by its readiness answer, or by a failed liveness
      // probe (it is down either way), or by liveness alone when it has no readiness check.
      auto node = table.get(r.node_id);
      if (r.kind == health::ProbeKind::kReadiness || !r.ok || (node && !node->needs_readiness)) {
        awaiting_first.erase(r.node_id);
      }
      if (awaiting_first.empty() && first_round_planned) finish_first_round();
    }
  }

  void finish_first_round() {
    if (first_round_finished) return;
    first_round_finished = true;
    first_round_timer.cancel();
    auto callbacks = std::move(first_round_callbacks);
    for (auto& cb : callbacks) cb();
  }

  void schedule_tick() {
    tick_timer.expires_after(kTickInterval);
    tick_timer.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped) return;
      for (const auto& id : table.tick()) {
        spdlog::warn("node {}: eviction deadline reached; cutting off what still runs on it", id);
        if (abort) abort(id);
      }
      schedule_tick();
    });
  }

  void schedule_sync() {
    sync_timer.expires_after(kSyncInterval);
    sync_timer.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped) return;
      sync();
      schedule_sync();
    });
  }

  /// Off the loop, in order with the other writes: heartbeats out, other replicas' changes in.
  void sync() {
    net::post(persist, [this, beats = table.take_heartbeats()] {
      try {
        store.touch_node_heartbeats(beats);
        if (config.store.backend != config::StoreConfig::Backend::kPostgres) return;
        std::vector<registry::NodeInfo> rows;
        for (const auto& row : store.list_nodes()) {
          if (auto node = admin::from_record(row)) rows.push_back(std::move(*node));
        }
        if (std::size_t n = table.reconcile(rows)) spdlog::info("nodes: {} changed by other replicas", n);
      } catch (const std::exception& e) {
        spdlog::warn("nodes: sync with the store failed: {}", e.what());
      }
    });
  }

  const config::Config& config;
  store::Store& store;
  net::io_context& io;
  net::strand<net::thread_pool::executor_type> persist;
  registry::NodeRegistry& registry;
  registry::HealthPolicy& health;
  registry::NodeTable table;
  NodeMetrics node_metrics;
  std::unique_ptr<health::HealthMonitor> monitor;
  std::function<void(const std::string&)> abort;
  net::steady_timer tick_timer;
  net::steady_timer sync_timer;
  net::steady_timer first_round_timer;
  // First-round bookkeeping; touched on the io thread only (the monitor's callbacks and timers).
  bool first_round_planned = false;
  bool first_round_finished = false;
  std::set<std::string> awaiting_first;
  std::vector<std::function<void()>> first_round_callbacks;
  std::atomic<bool> stopped{false};
};

NodeService::NodeService(const config::Config& config, const Clock& clock, store::Store& store, net::io_context& io,
                         net::thread_pool& blocking, registry::NodeRegistry& registry, registry::HealthPolicy& health,
                         telemetry::Metrics& metrics)
    : impl_(std::make_unique<Impl>(config, clock, store, io, blocking, registry, health, metrics)) {}

NodeService::~NodeService() { stop(); }

void NodeService::load() {
  std::vector<registry::NodeInfo> persisted;
  for (const auto& row : impl_->store.list_nodes()) {
    if (auto node = admin::from_record(row)) {
      persisted.push_back(std::move(*node));
    } else {
      spdlog::warn("node {}: stored with unknown state '{}' or source '{}'; ignored", row.id, row.state, row.source);
    }
  }
  std::vector<registry::NodeSpec> from_config;
  for (const auto& n : impl_->config.nodes) from_config.push_back(admin::spec_from_config(n));
  impl_->table.load(std::move(persisted), from_config);
  // The config file's nodes are stored too, so the store lists every node the process knows.
  for (const auto& node : impl_->table.list()) {
    if (node.source == registry::NodeSource::kConfig) impl_->store.upsert_node(admin::to_record(node));
  }
  spdlog::info("nodes: {} known ({} from the config file)", impl_->table.list().size(), from_config.size());
}

registry::NodeTable& NodeService::table() { return impl_->table; }

void NodeService::start(std::function<void(const std::string&)> abort) {
  Impl& impl = *impl_;
  impl.abort = std::move(abort);
  health::HealthMonitorOptions options{impl.config.health.interval, impl.config.health.timeout};
  // The monitor calls back on a strand of io; io is run by one thread, so the callbacks and the
  // timers below never run at the same time.
  impl.monitor = std::make_unique<health::HealthMonitor>(
      impl.io, options, [&impl] { return impl.targets(); }, [&impl](const health::ProbeResult& r) { impl.report(r); });
  impl.first_round_timer.expires_after(impl.config.health.timeout + std::chrono::milliseconds(500));
  impl.first_round_timer.async_wait([&impl](boost::system::error_code ec) {
    if (ec) return;
    if (!impl.awaiting_first.empty()) {
      spdlog::warn("nodes: {} node(s) did not answer their first probes in time; starting without them",
                   impl.awaiting_first.size());
    }
    impl.finish_first_round();
  });
  impl.monitor->start();
  impl.schedule_tick();
  impl.schedule_sync();
}

void NodeService::when_first_round_done(std::function<void()> done) {
  Impl& impl = *impl_;
  net::post(impl.io, [&impl, done = std::move(done)]() mutable {
    if (impl.first_round_finished) {
      done();
    } else {
      impl.first_round_callbacks.push_back(std::move(done));
    }
  });
}

void NodeService::probe_now() {
  if (impl_->monitor) impl_->monitor->probe_now();
}

void NodeService::stop() {
  if (impl_->stopped.exchange(true)) return;
  if (impl_->monitor) impl_->monitor->stop();
  net::post(impl_->io, [impl = impl_.get()] {
    impl->tick_timer.cancel();
    impl->sync_timer.cancel();
    impl->first_round_timer.cancel();
  });
}

}  // namespace cic::app
