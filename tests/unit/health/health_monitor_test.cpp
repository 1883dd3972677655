// HealthMonitor against real cic-node-sim processes and scripted misbehaving servers. These are
// functional tests: intervals and timeouts are short, bounds on elapsed time are generous.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "cic/health/health_monitor.hpp"
#include "probe_support.hpp"

namespace cic::health {
namespace {

using namespace std::chrono_literals;
using testing::http_get;
using testing::is;
using testing::NodeSim;
using testing::Recorder;
using testing::ScriptedServer;
using testing::wait_until;

constexpr auto kWait = 10s;  // the most a test waits for something that should happen soon

ProbeTarget target(std::string id, registry::NodeAddress address) {
  ProbeTarget t;
  t.node_id = std::move(id);
  t.address = std::move(address);
  return t;
}

ProbeTarget with_readiness(ProbeTarget t, std::string_view model, std::string_view kind) {
  t.check_readiness = true;
  std::tie(t.readiness_path, t.readiness_body) = readiness_request(model, kind);
  return t;
}

ProbeTarget with_metrics(ProbeTarget t, std::shared_ptr<registry::NodeLoad> load) {
  t.scrape_metrics = true;
  t.load = std::move(load);
  return t;
}

std::int64_t sim_stat(std::uint16_t port, const char* name) {
  auto body = http_get(port, "/sim/stats");
  if (!body) return -1;
  auto doc = nlohmann::json::parse(*body, nullptr, false);
  return doc.is_object() && doc.contains(name) ? doc[name].get<std::int64_t>() : -1;
}

void preset(registry::NodeLoad& load, std::int64_t running, std::int64_t waiting, std::int64_t kv) {
  load.requests_running = running;
  load.requests_waiting = waiting;
  load.kv_cache_usage_milli = kv;
}

class HealthMonitorTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (monitor_) monitor_->stop();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    monitor_.reset();
  }

  /// Starts a monitor and one thread running the io_context (without a work guard, so the thread
  /// returns once the monitor has no work left).
  void start_monitor(HealthMonitorOptions options) {
    monitor_ = std::make_unique<HealthMonitor>(
        io_, options,
        [this] {
          if (throw_in_targets_.exchange(false)) throw std::runtime_error("targets failed");
          std::lock_guard lock(targets_mutex_);
          return targets_;
        },
        [this](const ProbeResult& result) {
          recorder_.add(result);
          if (on_report_) on_report_(result);
        });
    monitor_->start();
    thread_ = std::thread([this] {
      io_.run();
      io_returned_ = true;
    });
  }

  void set_targets(std::vector<ProbeTarget> targets) {
    std::lock_guard lock(targets_mutex_);
    targets_ = std::move(targets);
  }

  boost::asio::io_context io_;
  std::unique_ptr<HealthMonitor> monitor_;
  std::thread thread_;
  std::atomic<bool> io_returned_{false};
  std::atomic<bool> throw_in_targets_{false};
  std::function<void(const ProbeResult&)> on_report_;  // set before start_monitor
  std::mutex targets_mutex_;
  std::vector<ProbeTarget> targets_;
  Recorder recorder_;
};

TEST_F(HealthMonitorTest, LivenessOkOnLiveNodeEveryInterval) {
  NodeSim sim({});
  set_targets({target("n1", sim.address())});
  start_monitor({100ms, 1000ms});

  auto result = recorder_.wait_for(is("n1", ProbeKind::kLiveness), kWait);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ok) << result->error;
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->error, "");
  EXPECT_GT(result->latency.count(), 0);
  EXPECT_LT(result->latency, 1000ms);
  // Rounds repeat; nothing else was asked for.
  EXPECT_TRUE(wait_until([&] { return recorder_.count("n1", ProbeKind::kLiveness) >= 3; }, kWait));
  EXPECT_EQ(recorder_.count("n1", ProbeKind::kReadiness), 0u);
  EXPECT_EQ(recorder_.count("n1", ProbeKind::kMetrics), 0u);
}

TEST_F(HealthMonitorTest, LivenessFailsFastAfterKillAndRecoversOnRestart) {
  auto sim = std::make_unique<NodeSim>(std::vector<std::string>{});
  const std::uint16_t port = sim->port();
  set_targets({target("n1", sim->address())});
  start_monitor({100ms, 2000ms});
  ASSERT_TRUE(recorder_.wait_for(is("n1", ProbeKind::kLiveness, true), kWait));

  sim->kill();
  auto down = recorder_.wait_for(is("n1", ProbeKind::kLiveness, false), kWait, recorder_.size());
  ASSERT_TRUE(down);
  EXPECT_NE(down->error.find("connect"), std::string::npos) << down->error;
  EXPECT_EQ(down->status, 0);
  EXPECT_LT(down->latency, 1000ms) << "a refused connection must not wait for the 2 s timeout";

  sim = std::make_unique<NodeSim>(std::vector<std::string>{}, port);
  ASSERT_EQ(sim->port(), port);
  auto up = recorder_.wait_for(is("n1", ProbeKind::kLiveness, true), kWait, recorder_.size());
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 200);
}

TEST_F(HealthMonitorTest, HangingNodeIsLiveButNotReady) {
  NodeSim sim({"--hang"});
  set_targets({with_readiness(target("n1", sim.address()), "sim-model", "chat")});
  start_monitor({100ms, 500ms});

  auto live = recorder_.wait_for(is("n1", ProbeKind::kLiveness), kWait);
  ASSERT_TRUE(live);
  EXPECT_TRUE(live->ok) << live->error;
  auto ready = recorder_.wait_for(is("n1", ProbeKind::kReadiness), kWait);
  ASSERT_TRUE(ready);
  EXPECT_FALSE(ready->ok);
  EXPECT_NE(ready->error.find("timeout"), std::string::npos) << ready->error;
  EXPECT_GE(ready->latency, 450ms);
  EXPECT_LT(ready->latency, 3000ms);
}

TEST_F(HealthMonitorTest, ReadinessOkForChatCompletionAndEmbeddingModels) {
  NodeSim sim({"--model", "chat-m", "--model", "cmp-m:completion", "--model", "emb-m:embedding"});
  set_targets({with_readiness(target("chat", sim.address()), "chat-m", "chat"),
               with_readiness(target("cmp", sim.address()), "cmp-m", "completion"),
               with_readiness(target("emb", sim.address()), "emb-m", "embedding"),
               with_readiness(target("missing", sim.address()), "no-such-model", "chat"),
               with_readiness(target("wrong-kind", sim.address()), "emb-m", "chat")});
  start_monitor({100ms, 2000ms});

  for (const char* id : {"chat", "cmp", "emb"}) {
    auto r = recorder_.wait_for(is(id, ProbeKind::kReadiness), kWait);
    ASSERT_TRUE(r) << id;
    EXPECT_TRUE(r->ok) << id << ": " << r->error;
    EXPECT_EQ(r->status, 200) << id;
  }
  auto missing = recorder_.wait_for(is("missing", ProbeKind::kReadiness), kWait);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->ok);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->error.find("HTTP 404"), std::string::npos) << missing->error;
  EXPECT_NE(missing->error.find("no-such-model"), std::string::npos) << "the node's message is kept";
  auto wrong = recorder_.wait_for(is("wrong-kind", ProbeKind::kReadiness), kWait);
  ASSERT_TRUE(wrong);
  EXPECT_FALSE(wrong->ok);
  EXPECT_EQ(wrong->status, 400);
}

TEST_F(HealthMonitorTest, MetricsScrapeStoresTheNodesGauges) {
  NodeSim sim({"--max-concurrency", "1", "--ttft-ms", "60000"});
  auto load = std::make_shared<registry::NodeLoad>();
  preset(*load, 77, 77, 777);  // stale values an idle node's scrape must overwrite
  set_targets({with_metrics(target("n1", sim.address()), load)});
  start_monitor({100ms, 1000ms});

  auto first = recorder_.wait_for(is("n1", ProbeKind::kMetrics), kWait);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->ok) << first->error;
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(load->requests_running.load(), 0);
  EXPECT_EQ(load->requests_waiting.load(), 0);
  EXPECT_EQ(load->kv_cache_usage_milli.load(), 0);

  // Three slow requests on a node that runs one at a time: 1 running, 2 waiting, KV 1/1.
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {
    int fd = testing::post_and_hold(sim.port(), "/v1/completions", R"({"model":"sim-model","prompt":"hi"})");
    ASSERT_GE(fd, 0);
    held.push_back(fd);
  }
  EXPECT_TRUE(wait_until(
      [&] {
        return load->requests_running == 1 && load->requests_waiting == 2 && load->kv_cache_usage_milli == 1000;
      },
      kWait))
      << load->requests_running << " running, " << load->requests_waiting << " waiting, "
      << load->kv_cache_usage_milli << " kv";

  for (int fd : held) ::close(fd);  // the node aborts them; the next scrapes see it idle again
  EXPECT_TRUE(wait_until(
      [&] {
        return load->requests_running == 0 && load->requests_waiting == 0 && load->kv_cache_usage_milli == 0;
      },
      kWait));
}

TEST_F(HealthMonitorTest, ScrapeWaitsForTheReadinessInferenceSoItDoesNotCountItAsLoad) {
  // A readiness inference that takes 300 ms. Scraped beside it, /metrics would report it as one
  // running request, and load_aware would avoid the node until the next scrape.
  NodeSim sim({"--ttft-ms", "300"});
  auto load = std::make_shared<registry::NodeLoad>();
  preset(*load, 77, 77, 777);
  set_targets({with_metrics(with_readiness(target("n1", sim.address()), "sim-model", "chat"), load)});
  start_monitor({100ms, 2000ms});  // rounds every 100 ms while the first inference still runs

  auto ready = recorder_.wait_for(is("n1", ProbeKind::kReadiness), kWait);
  ASSERT_TRUE(ready);
  EXPECT_TRUE(ready->ok) << ready->error;
  auto scraped = recorder_.wait_for(is("n1", ProbeKind::kMetrics), kWait);
  ASSERT_TRUE(scraped);
  EXPECT_TRUE(scraped->ok) << scraped->error;
  // Every scrape so far came after a readiness answer, and none saw a running request.
  bool readiness_answered = false;
  for (const ProbeResult& r : recorder_.all()) {
    if (r.node_id != "n1") continue;
    if (r.kind == ProbeKind::kReadiness) readiness_answered = true;
    if (r.kind == ProbeKind::kMetrics) {
      EXPECT_TRUE(readiness_answered) << "a scrape answered before any readiness probe";
    }
  }
  EXPECT_EQ(load->requests_running.load(), 0);
  EXPECT_EQ(load->requests_waiting.load(), 0);
}

TEST_F(HealthMonitorTest, FailedScrapeIsReportedAndStoresNothing) {
  ScriptedServer server("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops");
  auto load = std::make_shared<registry::NodeLoad>();
  preset(*load, 5, 6, 700);
  set_targets({with_metrics(target("n1", server.address()), load)});
  start_monitor({100ms, 1000ms});

  auto scrape = recorder_.wait_for(is("n1", ProbeKind::kMetrics), kWait);
  ASSERT_TRUE(scrape);
  EXPECT_FALSE(scrape->ok);
  EXPECT_EQ(scrape->status, 500);
  EXPECT_EQ(scrape->error, "HTTP 500: oops");
  auto live = recorder_.wait_for(is("n1", ProbeKind::kLiveness), kWait);
  ASSERT_TRUE(live);
  EXPECT_FALSE(live->ok);
  EXPECT_EQ(live->status, 500);
  EXPECT_EQ(load->requests_running.load(), 5);
  EXPECT_EQ(load->requests_waiting.load(), 6);
  EXPECT_EQ(load->kv_cache_usage_milli.load(), 700);
}

TEST_F(HealthMonitorTest, A200ThatIsNotVllmFailsMetricsAndReadiness) {
  ScriptedServer server("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello world\n");
  auto load = std::make_shared<registry::NodeLoad>();
  preset(*load, 5, 6, 700);
  set_targets({with_metrics(with_readiness(target("n1", server.address()), "m", "chat"), load)});
  start_monitor({100ms, 1000ms});

  auto live = recorder_.wait_for(is("n1", ProbeKind::kLiveness), kWait);
  ASSERT_TRUE(live);
  EXPECT_TRUE(live->ok) << "liveness asks for a 200 only";
  auto ready = recorder_.wait_for(is("n1", ProbeKind::kReadiness), kWait);
  ASSERT_TRUE(ready);
  EXPECT_FALSE(ready->ok);
  EXPECT_EQ(ready->status, 200);
  EXPECT_NE(ready->error.find("no choices or data"), std::string::npos) << ready->error;
  auto scrape = recorder_.wait_for(is("n1", ProbeKind::kMetrics), kWait);
  ASSERT_TRUE(scrape);
  EXPECT_FALSE(scrape->ok);
  EXPECT_NE(scrape->error.find("no vLLM load gauges"), std::string::npos) << scrape->error;
  EXPECT_EQ(load->requests_running.load(), 5);
  EXPECT_EQ(load->kv_cache_usage_milli.load(), 700);
}

TEST_F(HealthMonitorTest, GarbageAnswersAreNotOk) {
  ScriptedServer closes("");  // accepts, then closes without a byte
  ScriptedServer junk("garbage\r\n\r\n");
  ScriptedServer huge("HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n");  // over the 1 MiB cap
  set_targets({target("closes", closes.address()), target("junk", junk.address()), target("huge", huge.address())});
  start_monitor({100ms, 1000ms});

  for (const char* id : {"closes", "junk", "huge"}) {
    auto r = recorder_.wait_for(is(id, ProbeKind::kLiveness), kWait);
    ASSERT_TRUE(r) << id;
    EXPECT_FALSE(r->ok) << id;
    EXPECT_EQ(r->status, 0) << id;
    EXPECT_NE(r->error.find("read"), std::string::npos) << id << ": " << r->error;
  }
  EXPECT_NE(recorder_.wait_for(is("huge", ProbeKind::kLiveness), kWait)->error.find("too large"), std::string::npos);
}

TEST_F(HealthMonitorTest, StopReturnsPromptlyAndCancelsProbesInFlight) {
  NodeSim sim({"--hang"});
  set_targets({with_readiness(target("n1", sim.address()), "sim-model", "chat")});
  start_monitor({100ms, 60000ms});
  ASSERT_TRUE(recorder_.wait_for(is("n1", ProbeKind::kLiveness, true), kWait));
  ASSERT_TRUE(wait_until([&] { return sim_stat(sim.port(), "requests_active") == 1; }, kWait))
      << "the readiness probe hangs on the node";

  const auto before = std::chrono::steady_clock::now();
  monitor_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 500ms);
  const std::size_t reported = recorder_.size();

  // The timer and the hanging probe are cancelled, so the io thread runs out of work long before
  // the 60 s probe deadline, and the node sees the probe's connection go away.
  EXPECT_TRUE(wait_until([&] { return io_returned_.load(); }, kWait));
  EXPECT_TRUE(wait_until([&] { return sim_stat(sim.port(), "requests_active") == 0; }, kWait));
  EXPECT_EQ(recorder_.size(), reported) << "no report after stop()";
  EXPECT_EQ(recorder_.count("n1", ProbeKind::kReadiness), 0u);
  monitor_->stop();  // idempotent
}

TEST_F(HealthMonitorTest, StopFromInsideReportEndsReports) {
  NodeSim sim({});
  set_targets({target("n1", sim.address()), target("n2", sim.address()), target("n3", sim.address())});
  on_report_ = [this](const ProbeResult&) { monitor_->stop(); };
  start_monitor({50ms, 1000ms});
  EXPECT_TRUE(wait_until([&] { return io_returned_.load(); }, kWait));
  EXPECT_EQ(recorder_.size(), 1u);
}

TEST_F(HealthMonitorTest, ARoundDoesNotOverlapAProbeOfTheSameKindStillRunning) {
  NodeSim sim({"--hang"});
  set_targets({with_readiness(target("n1", sim.address()), "sim-model", "chat")});
  start_monitor({50ms, 1500ms});

  // Many rounds pass while the first readiness probe hangs: liveness runs in each, readiness not.
  ASSERT_TRUE(wait_until([&] { return recorder_.count("n1", ProbeKind::kLiveness) >= 8; }, kWait));
  EXPECT_EQ(recorder_.count("n1", ProbeKind::kReadiness), 0u);
  EXPECT_EQ(sim_stat(sim.port(), "requests_total"), 1);

  // Once it times out, the next round starts another one.
  ASSERT_TRUE(recorder_.wait_for(is("n1", ProbeKind::kReadiness, false), kWait));
  EXPECT_TRUE(wait_until([&] { return sim_stat(sim.port(), "requests_total") >= 2; }, kWait));
}

TEST_F(HealthMonitorTest, ProbeNowStartsARoundAtOnce) {
  NodeSim sim({});
  set_targets({target("n1", sim.address())});
  start_monitor({std::chrono::hours(1), 1000ms});
  ASSERT_TRUE(recorder_.wait_for(is("n1", ProbeKind::kLiveness, true), kWait));

  set_targets({target("n1", sim.address()), target("n2", sim.address())});
  monitor_->probe_now();
  auto r = recorder_.wait_for(is("n2", ProbeKind::kLiveness, true), kWait);
  ASSERT_TRUE(r);
  EXPECT_TRUE(wait_until([&] { return recorder_.count("n1", ProbeKind::kLiveness) == 2; }, kWait));
}

TEST_F(HealthMonitorTest, ResolvesHostNames) {
  NodeSim sim({});
  set_targets({target("byname", {"http", "localhost", sim.port()})});
  start_monitor({100ms, 2000ms});
  auto r = recorder_.wait_for(is("byname", ProbeKind::kLiveness), kWait);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->error;
}

TEST_F(HealthMonitorTest, ProbesThatCannotBeMadeAreNotOk) {
  ScriptedServer server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ProbeTarget no_request = target("norequest", server.address());
  no_request.check_readiness = true;  // but no path: readiness_request() of an unknown kind
  set_targets({target("noname", {"http", "no-such-host.invalid", 80}), target("tls", {"https", "127.0.0.1", 443}),
               no_request});
  start_monitor({100ms, 1000ms});
  auto unready = recorder_.wait_for(is("norequest", ProbeKind::kReadiness), kWait);
  ASSERT_TRUE(unready);
  EXPECT_FALSE(unready->ok);
  EXPECT_EQ(unready->error, "no readiness request for this node");
  auto noname = recorder_.wait_for(is("noname", ProbeKind::kLiveness), kWait);
  ASSERT_TRUE(noname);
  EXPECT_FALSE(noname->ok);
  EXPECT_NE(noname->error.find("resolve"), std::string::npos) << noname->error;
  auto tls = recorder_.wait_for(is("tls", ProbeKind::kLiveness), kWait);
  ASSERT_TRUE(tls);
  EXPECT_FALSE(tls->ok);
  EXPECT_NE(tls->error.find("https"), std::string::npos) << tls->error;
}

TEST_F(HealthMonitorTest, ExceptionsFromCallbacksDoNotStopTheRounds) {
  NodeSim sim({});
  set_targets({target("n1", sim.address())});
  throw_in_targets_ = true;  // the first round fails as a whole
  on_report_ = [](const ProbeResult&) { throw std::runtime_error("report failed"); };
  start_monitor({100ms, 1000ms});
  EXPECT_TRUE(wait_until([&] { return recorder_.count("n1", ProbeKind::kLiveness) >= 2; }, kWait));
  EXPECT_FALSE(io_returned_);
}

TEST_F(HealthMonitorTest, NothingHappensBeforeStartNorAfterStop) {
  NodeSim sim({});
  set_targets({target("n1", sim.address())});
  HealthMonitor idle(io_, {10ms, 1000ms}, [this] { return targets_; }, [this](const ProbeResult& r) { recorder_.add(r); });
  idle.probe_now();  // ignored before start()
  idle.stop();
  idle.start();  // ignored after stop()
  io_.run_for(300ms);
  EXPECT_EQ(recorder_.size(), 0u);
}

}  // namespace
}  // namespace cic::health
