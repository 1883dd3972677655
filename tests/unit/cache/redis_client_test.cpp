#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <mutex>
#include <set>

#include "cic/cache/redis_client.hpp"
#include "unit/cache/redis_test_server.hpp"

namespace cic::cache {
namespace {

using namespace std::chrono_literals;
using cic::testing::call;
using cic::testing::eventually;
using cic::testing::RedisTestServer;
using Steady = std::chrono::steady_clock;

std::string unique_key(const std::string& name) {
  return "cic:test:cache:" + name + ":" + std::to_string(Steady::now().time_since_epoch().count());
}

RedisClientOptions options_for(std::string url) {
  RedisClientOptions o;
  o.url = std::move(url);
  return o;
}

Reply eval_sync(RedisClient& client, const Script& s, std::vector<std::string> keys, std::vector<std::string> args) {
  std::promise<Reply> p;
  auto f = p.get_future();
  client.eval(s, std::move(keys), std::move(args), 2s, [&p](Reply r) { p.set_value(std::move(r)); });
  return f.get();
}

TEST(RedisClient, RejectsABadUrl) {
  EXPECT_THROW(RedisClient(options_for("http://127.0.0.1:6379")), std::invalid_argument);
  EXPECT_THROW(RedisClient(options_for("redis://127.0.0.1:99999")), std::invalid_argument);
}

TEST(RedisClient, RepliesOfEveryKind) {
  CIC_REQUIRE_REDIS();
  RedisClient client(options_for(*cic::testing::shared_redis_url()));
  const std::string key = unique_key("kinds");

  Reply set = call(client, {"SET", key, std::string("a\0b", 3)});
  EXPECT_EQ(set.kind, Reply::Kind::kStatus);
  EXPECT_EQ(set.text, "OK");
  Reply get = call(client, {"GET", key});
  ASSERT_EQ(get.kind, Reply::Kind::kString);
  EXPECT_EQ(get.text, std::string("a\0b", 3));  // binary-safe both ways
  Reply nil = call(client, {"GET", key + ":missing"});
  EXPECT_EQ(nil.kind, Reply::Kind::kNil);
  Reply err = call(client, {"INCR", key});
  EXPECT_TRUE(err.is_error());
  EXPECT_FALSE(err.timed_out);
  EXPECT_NE(err.text.find("not an integer"), std::string::npos);

  call(client, {"DEL", key});
  Reply pushed = call(client, {"RPUSH", key, "x", "y"});
  ASSERT_EQ(pushed.kind, Reply::Kind::kInteger);
  EXPECT_EQ(pushed.integer, 2);
  Reply range = call(client, {"LRANGE", key, "0", "-1"});
  ASSERT_EQ(range.kind, Reply::Kind::kArray);
  ASSERT_EQ(range.elements.size(), 2u);
  EXPECT_EQ(range.elements[1].text, "y");
  call(client, {"DEL", key});
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(client.connects(), 1u);
}

TEST(RedisClient, PipelinesManyConcurrentCommandsFromManyThreads) {
  CIC_REQUIRE_REDIS();
  RedisClient client(options_for(*cic::testing::shared_redis_url()));
  const std::string key = unique_key("pipeline");
  constexpr int kThreads = 4, kPerThread = 2'500;
  std::latch all_done(kThreads * kPerThread);
  std::mutex mutex;
  std::set<std::int64_t> seen;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        client.command({"INCR", key}, 5s, [&](Reply r) {
          if (r.kind == Reply::Kind::kInteger) {
            std::lock_guard lock(mutex);
            seen.insert(r.integer);
          } else {
            ++errors;
          }
          all_done.count_down();
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  all_done.wait();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kPerThread));  // each reply to its own call
  EXPECT_EQ(*seen.begin(), 1);
  EXPECT_EQ(*seen.rbegin(), kThreads * kPerThread);
  EXPECT_EQ(client.connects(), 1u);  // one pipelined connection
  call(client, {"DEL", key});
}

TEST(RedisClient, TimesOutOnAFrozenServerWithinTheDeadline) {
  CIC_REQUIRE_REDIS();
  RedisTestServer server;
  RedisClient client(options_for(server.url()));
  ASSERT_EQ(call(client, {"PING"}).text, "PONG");

  server.freeze();
  constexpr int kCalls = 200;
  std::latch done(kCalls);
  std::mutex mutex;
  std::vector<double> late_ms;
  std::atomic<int> timed_out{0};
  for (int i = 0; i < kCalls; ++i) {
    auto sent = Steady::now();
    client.command({"INCR", "frozen"}, 50ms, [&, sent](Reply r) {
      if (r.timed_out) ++timed_out;
      std::lock_guard lock(mutex);
      late_ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - sent).count());
      done.count_down();
    });
  }
  done.wait();
  std::sort(late_ms.begin(), late_ms.end());
  EXPECT_EQ(timed_out.load(), kCalls);
  EXPECT_GE(late_ms.front(), 49.0);
  EXPECT_LT(late_ms.back(), 50.0 + 30.0) << "every call must finish within its timeout plus a small margin";
  std::printf("[ frozen  ] 50 ms timeout: p50 %.1f ms, max %.1f ms\n", late_ms[late_ms.size() / 2], late_ms.back());

  server.thaw();
  EXPECT_TRUE(eventually([&] { return call(client, {"PING"}, 200ms).text == "PONG"; }));
  EXPECT_GE(client.timeouts(), static_cast<std::uint64_t>(kCalls));
}

TEST(RedisClient, FailsFastWhenNothingListensAndReconnectsAfterARestart) {
  CIC_REQUIRE_REDIS();
  RedisTestServer server;
  RedisClientOptions o = options_for(server.url());
  o.reconnect_min = 20ms;
  o.reconnect_max = 100ms;
  RedisClient client(o);
  ASSERT_EQ(call(client, {"SET", "k", "1"}).text, "OK");

  server.kill();
  // The broken connection is noticed, then calls fail fast (not at their deadline) until the
  // server is back.
  EXPECT_TRUE(eventually([&] { return !client.connected(); }, 2s));
  auto t0 = Steady::now();
  Reply down = call(client, {"GET", "k"}, 2s);
  EXPECT_TRUE(down.is_error());
  EXPECT_FALSE(down.timed_out);
  EXPECT_LT(Steady::now() - t0, 200ms);

  server.start();
  EXPECT_TRUE(eventually([&] { return call(client, {"PING"}, 200ms).text == "PONG"; }, 3s));
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(client.connects(), 2u);
}

TEST(RedisClient, ReloadsAScriptAfterScriptFlush) {
  CIC_REQUIRE_REDIS();
  RedisTestServer server;  // SCRIPT FLUSH would disturb other tests on the shared server
  RedisClient client(options_for(server.url()));
  Script echo = client.load_script("return {KEYS[1], ARGV[1]}");
  EXPECT_EQ(echo.sha1.size(), 40u);

  Reply first = eval_sync(client, echo, {"k"}, {"v"});
  ASSERT_EQ(first.kind, Reply::Kind::kArray) << first.text;
  EXPECT_EQ(first.elements[1].text, "v");

  ASSERT_EQ(call(client, {"SCRIPT", "FLUSH"}).text, "OK");
  Reply exists = call(client, {"SCRIPT", "EXISTS", echo.sha1});
  ASSERT_EQ(exists.elements.at(0).integer, 0);
  Reply again = eval_sync(client, echo, {"k"}, {"w"});
  ASSERT_EQ(again.kind, Reply::Kind::kArray) << again.text;
  EXPECT_EQ(again.elements[1].text, "w");
  EXPECT_EQ(call(client, {"SCRIPT", "EXISTS", echo.sha1}).elements.at(0).integer, 1);

  // A script registered while connected is loaded on first use; a script error is a reply.
  Script broken = client.load_script("return redis.call('NOSUCHCOMMAND')");
  Reply err = eval_sync(client, broken, {}, {});
  EXPECT_TRUE(err.is_error());
  EXPECT_FALSE(err.is_noscript());
}

TEST(RedisClient, DestructorCompletesPendingCallsWithAnError) {
  CIC_REQUIRE_REDIS();
  RedisTestServer server;
  std::atomic<int> completed{0}, errors{0};
  auto client = std::make_unique<RedisClient>(options_for(server.url()));
  ASSERT_EQ(call(*client, {"PING"}).text, "PONG");
  server.freeze();
  for (int i = 0; i < 50; ++i) {
    client->command({"PING"}, 30s, [&](Reply r) {
      ++completed;
      if (r.is_error() && !r.timed_out) ++errors;
    });
  }
  std::this_thread::sleep_for(20ms);  // let the calls reach the socket
  auto t0 = Steady::now();
  client.reset();  // must not wait for the 30 s deadlines
  EXPECT_LT(Steady::now() - t0, 1s);
  EXPECT_EQ(completed.load(), 50);
  EXPECT_EQ(errors.load(), 50);
  server.thaw();
}

TEST(RedisClient, ExceptionsFromCallbacksDoNotEscape) {
  CIC_REQUIRE_REDIS();
  RedisClient client(options_for(*cic::testing::shared_redis_url()));
  client.command({"PING"}, 1s, [](Reply) { throw std::runtime_error("caller bug"); });
  EXPECT_EQ(call(client, {"PING"}).text, "PONG");  // the client thread survived
}

}  // namespace
}  // namespace cic::cache
