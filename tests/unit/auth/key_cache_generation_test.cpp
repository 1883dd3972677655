// KeyCache generations: a lookup that read the generation before asking the store must not cache
// its answer when clear() or invalidate() ran meanwhile (it may predate a revocation); a put with
// the current generation, or without one, is kept.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cic/auth/key_cache.hpp"
#include "fakes/fake_clock.hpp"

namespace cic::auth {
namespace {

using namespace std::chrono_literals;
using State = KeyCache::State;

std::shared_ptr<const KeyIdentity> identity(const std::string& hash, const std::string& key_id = "key_1") {
  auto id = std::make_shared<KeyIdentity>();
  id->key_id = key_id;
  id->key_hash = hash;
  id->org_id = "org_1";
  id->region = "eu-west-1";
  return id;
}

// "prefix" + std::to_string(i) trips a GCC 12 -Wrestrict false positive; append instead.
std::string name(const char* prefix, int i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

class KeyCacheGenerationTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
  KeyCache cache_{clock_, 60s, 5s};
};

TEST_F(KeyCacheGenerationTest, ClearAndInvalidateChangeTheGeneration) {
  const std::uint64_t g0 = cache_.generation();
  cache_.clear();
  const std::uint64_t g1 = cache_.generation();
  EXPECT_NE(g1, g0);
  cache_.invalidate("hash_a");  // also for a hash the cache does not hold
  EXPECT_NE(cache_.generation(), g1);
  EXPECT_NE(cache_.generation(), g0);
}

TEST_F(KeyCacheGenerationTest, GetAndPutDoNotChangeTheGeneration) {
  const std::uint64_t g = cache_.generation();
  cache_.put_valid(identity("hash_a"), g);
  cache_.put_invalid("hash_b", g);
  cache_.put_valid(identity("hash_c"));
  (void)cache_.get("hash_a");
  (void)cache_.get("hash_missing");
  EXPECT_EQ(cache_.generation(), g);
}

TEST_F(KeyCacheGenerationTest, PutValidWithTheCurrentGenerationIsKept) {
  cache_.put_valid(identity("hash_a"), cache_.generation());
  auto e = cache_.get("hash_a");
  ASSERT_EQ(e.state, State::kValid);
  EXPECT_EQ(e.identity->key_id, "key_1");
}

TEST_F(KeyCacheGenerationTest, PutInvalidWithTheCurrentGenerationIsKept) {
  cache_.put_invalid("hash_a", cache_.generation());
  EXPECT_EQ(cache_.get("hash_a").state, State::kInvalid);
}

TEST_F(KeyCacheGenerationTest, PutValidAfterClearWithAnOlderGenerationIsDropped) {
  const std::uint64_t seen = cache_.generation();  // read before "asking the store"
  cache_.clear();                                   // e.g. an environment changed meanwhile
  cache_.put_valid(identity("hash_a"), seen);
  EXPECT_EQ(cache_.get("hash_a").state, State::kMiss);
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(KeyCacheGenerationTest, PutValidAfterInvalidateWithAnOlderGenerationIsDropped) {
  const std::uint64_t seen = cache_.generation();
  cache_.invalidate("hash_a");  // the key was revoked while its lookup was in flight
  cache_.put_valid(identity("hash_a"), seen);
  EXPECT_EQ(cache_.get("hash_a").state, State::kMiss);
}

TEST_F(KeyCacheGenerationTest, InvalidateOfAnotherHashAlsoDropsAnOlderPut) {
  // The generation is global: any invalidation voids every lookup in flight (conservative).
  const std::uint64_t seen = cache_.generation();
  cache_.invalidate("hash_other");
  cache_.put_valid(identity("hash_a"), seen);
  EXPECT_EQ(cache_.get("hash_a").state, State::kMiss);
}

TEST_F(KeyCacheGenerationTest, PutInvalidWithAnOlderGenerationIsDropped) {
  const std::uint64_t seen = cache_.generation();
  cache_.clear();
  cache_.put_invalid("hash_a", seen);
  EXPECT_EQ(cache_.get("hash_a").state, State::kMiss);

  const std::uint64_t seen2 = cache_.generation();
  cache_.invalidate("hash_b");
  cache_.put_invalid("hash_b", seen2);
  EXPECT_EQ(cache_.get("hash_b").state, State::kMiss);
}

TEST_F(KeyCacheGenerationTest, AnOlderPutDoesNotReplaceACurrentEntry) {
  const std::uint64_t seen = cache_.generation();
  cache_.clear();
  cache_.put_valid(identity("hash_a", "key_new"), cache_.generation());
  cache_.put_invalid("hash_a", seen);  // a stale "not found" must not shadow the fresh answer
  cache_.put_valid(identity("hash_a", "key_old"), seen);
  auto e = cache_.get("hash_a");
  ASSERT_EQ(e.state, State::kValid);
  EXPECT_EQ(e.identity->key_id, "key_new");
}

TEST_F(KeyCacheGenerationTest, PutWithTheNewGenerationAfterClearIsKept) {
  cache_.clear();
  cache_.put_valid(identity("hash_a"), cache_.generation());
  EXPECT_EQ(cache_.get("hash_a").state, State::kValid);
}

TEST_F(KeyCacheGenerationTest, PutWithoutAGenerationIsAlwaysKept) {
  const std::uint64_t before = cache_.generation();
  cache_.clear();
  cache_.invalidate("hash_x");
  ASSERT_NE(cache_.generation(), before);
  cache_.put_valid(identity("hash_a"));
  cache_.put_invalid("hash_b");
  EXPECT_EQ(cache_.get("hash_a").state, State::kValid);
  EXPECT_EQ(cache_.get("hash_b").state, State::kInvalid);
  cache_.clear();
  cache_.put_valid(identity("hash_c"), std::nullopt);
  EXPECT_EQ(cache_.get("hash_c").state, State::kValid);
}

TEST_F(KeyCacheGenerationTest, KeptEntriesStillExpireOnTheirTtl) {
  cache_.put_valid(identity("hash_a"), cache_.generation());
  cache_.put_invalid("hash_b", cache_.generation());
  clock_.advance(5s);
  EXPECT_EQ(cache_.get("hash_a").state, State::kValid);
  EXPECT_EQ(cache_.get("hash_b").state, State::kMiss);
  clock_.advance(55s);
  EXPECT_EQ(cache_.get("hash_a").state, State::kMiss);
}

TEST_F(KeyCacheGenerationTest, ClearEmptiesTheCacheAndAnOlderPutDoesNotRefillIt) {
  for (int i = 0; i < 100; ++i) cache_.put_valid(identity(name("hash_", i), name("key_", i)), cache_.generation());
  ASSERT_EQ(cache_.size(), 100u);
  const std::uint64_t seen = cache_.generation();
  cache_.clear();
  EXPECT_EQ(cache_.size(), 0u);
  for (int i = 0; i < 100; ++i) cache_.put_valid(identity(name("hash_", i), name("key_", i)), seen);
  EXPECT_EQ(cache_.size(), 0u);
}

// One thread clears (and now and then invalidates) over and over while others run the gateway's
// miss path: read the generation, "ask the store", put_valid with what they read, get. Each
// identity records, in its key_id, the generation its lookup started from. The workers keep going
// across the clearer's last clear; afterwards nothing may be cached from a lookup that started
// before that clear: its put either landed before the clear (and was wiped) or after it (and was
// dropped). Only entries put with the generation current after the last clear may remain.
TEST_F(KeyCacheGenerationTest, ConcurrentClearsNeverLeaveAnEntryFromAnOlderGeneration) {
  constexpr int kWorkers = 4;
  constexpr int kHashes = 64;
  constexpr int kClears = 2'000;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> lookups{0};

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_acquire)) {
        const int h = static_cast<int>((n * 7 + static_cast<std::uint64_t>(w) * 13) % kHashes);
        const std::string hash = name("hash_", h);
        const std::uint64_t seen = cache_.generation();
        auto id = identity(hash, name("gen_", static_cast<int>(seen)));
        if (n % 3 == 0) std::this_thread::yield();  // a lookup that takes a while
        cache_.put_valid(id, seen);
        (void)cache_.get(hash);
        lookups.fetch_add(1, std::memory_order_relaxed);
        ++n;
      }
    });
  }

  std::thread clearer([&] {
    for (int i = 0; i < kClears; ++i) {
      cache_.clear();
      if (i % 8 == 0) cache_.invalidate(name("hash_", i % kHashes));
      std::this_thread::yield();
    }
    cache_.clear();  // the last one, with the workers still putting
  });
  clearer.join();
  std::this_thread::sleep_for(5ms);  // puts after the last clear, with its generation
  stop.store(true, std::memory_order_release);
  for (auto& t : workers) t.join();

  const std::string current = name("gen_", static_cast<int>(cache_.generation()));
  for (int h = 0; h < kHashes; ++h) {
    auto e = cache_.get(name("hash_", h));
    if (e.state != State::kMiss) {
      ASSERT_EQ(e.state, State::kValid);
      EXPECT_EQ(e.identity->key_id, current) << "hash_" << h << " holds an entry put with a pre-clear generation";
    }
  }
  EXPECT_GT(lookups.load(), 0u);

  // And with no put after the last clear at all: puts of lookups begun before it leave nothing.
  const std::uint64_t before_last = cache_.generation();
  cache_.clear();
  for (int h = 0; h < kHashes; ++h) {
    cache_.put_valid(identity(name("hash_", h), name("gen_", static_cast<int>(before_last))), before_last);
  }
  for (int h = 0; h < kHashes; ++h) EXPECT_EQ(cache_.get(name("hash_", h)).state, State::kMiss) << "hash_" << h;
  EXPECT_EQ(cache_.size(), 0u);
}

// The same race with the last clear running concurrently with the puts: whatever the cache holds
// afterwards must carry the generation current after that clear.
TEST_F(KeyCacheGenerationTest, AfterTheLastClearOnlyCurrentGenerationEntriesRemain) {
  constexpr int kWorkers = 4;
  constexpr int kHashes = 32;
  for (int round = 0; round < 200; ++round) {
    std::atomic<bool> go{false};
    std::atomic<int> done{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&, w] {
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        for (int i = 0; i < 50; ++i) {
          const std::string hash = name("hash_", (i * kWorkers + w) % kHashes);
          const std::uint64_t seen = cache_.generation();
          cache_.put_valid(identity(hash, name("gen_", static_cast<int>(seen))), seen);
          (void)cache_.get(hash);
        }
        done.fetch_add(1, std::memory_order_release);
      });
    }
    go.store(true, std::memory_order_release);
    cache_.clear();  // the last clear, racing the puts
    for (auto& t : workers) t.join();
    ASSERT_EQ(done.load(), kWorkers);
    const std::string current = name("gen_", static_cast<int>(cache_.generation()));
    for (int h = 0; h < kHashes; ++h) {
      auto e = cache_.get(name("hash_", h));
      if (e.state == State::kValid) {
        ASSERT_EQ(e.identity->key_id, current) << "round " << round << ": hash_" << h
                                               << " holds an entry put with a pre-clear generation";
      }
    }
  }
}

}  // namespace
}  // namespace cic::auth
