// KeyCache: positive and negative entries, TTLs driven by a FakeClock, invalidation, bounds.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <functional>
#include <string>
#include <thread>
#include <utility>
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

class KeyCacheTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
  KeyCache cache_{clock_, 60s, 5s};
};

TEST_F(KeyCacheTest, UnknownHashIsAMiss) {
  auto e = cache_.get("nope");
  EXPECT_EQ(e.state, State::kMiss);
  EXPECT_EQ(e.identity, nullptr);
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(KeyCacheTest, ValidEntryReturnsTheSameIdentity) {
  auto id = identity("h1");
  cache_.put_valid(id);
  auto e = cache_.get("h1");
  EXPECT_EQ(e.state, State::kValid);
  EXPECT_EQ(e.identity.get(), id.get());
  EXPECT_EQ(e.identity->key_id, "key_1");
  EXPECT_EQ(cache_.size(), 1u);
  EXPECT_EQ(cache_.get("h2").state, State::kMiss);
}

TEST_F(KeyCacheTest, InvalidEntryIsNegative) {
  cache_.put_invalid("bad");
  auto e = cache_.get("bad");
  EXPECT_EQ(e.state, State::kInvalid);
  EXPECT_EQ(e.identity, nullptr);
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(KeyCacheTest, ValidEntryExpiresAtItsTtl) {
  cache_.put_valid(identity("h1"));
  clock_.advance(60s - 1ns);
  EXPECT_EQ(cache_.get("h1").state, State::kValid);
  clock_.advance(1ns);
  EXPECT_EQ(cache_.get("h1").state, State::kMiss);
}

TEST_F(KeyCacheTest, NegativeEntryUsesTheShorterTtl) {
  cache_.put_invalid("bad");
  cache_.put_valid(identity("good"));
  clock_.advance(5s - 1ms);
  EXPECT_EQ(cache_.get("bad").state, State::kInvalid);
  clock_.advance(1ms);
  EXPECT_EQ(cache_.get("bad").state, State::kMiss);
  EXPECT_EQ(cache_.get("good").state, State::kValid);
}

TEST_F(KeyCacheTest, PutAgainRefreshesTheTtlAndReplacesTheState) {
  cache_.put_invalid("h1");
  clock_.advance(4s);
  cache_.put_valid(identity("h1"));  // the key was created meanwhile
  EXPECT_EQ(cache_.get("h1").state, State::kValid);
  clock_.advance(59s);
  EXPECT_EQ(cache_.get("h1").state, State::kValid);
  cache_.put_invalid("h1");  // revoked
  EXPECT_EQ(cache_.get("h1").state, State::kInvalid);
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(KeyCacheTest, InvalidateRemovesOnlyThatEntry) {
  cache_.put_valid(identity("h1"));
  cache_.put_valid(identity("h2", "key_2"));
  cache_.put_invalid("h3");
  cache_.invalidate("h1");
  cache_.invalidate("h3");
  cache_.invalidate("never-there");
  EXPECT_EQ(cache_.get("h1").state, State::kMiss);
  EXPECT_EQ(cache_.get("h3").state, State::kMiss);
  EXPECT_EQ(cache_.get("h2").state, State::kValid);
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(KeyCacheTest, ClearRemovesEverything) {
  for (int i = 0; i < 100; ++i) cache_.put_valid(identity(name("h", i)));
  for (int i = 0; i < 50; ++i) cache_.put_invalid(name("bad", i));
  EXPECT_EQ(cache_.size(), 150u);
  cache_.clear();
  EXPECT_EQ(cache_.size(), 0u);
  EXPECT_EQ(cache_.get("h7").state, State::kMiss);
  EXPECT_EQ(cache_.get("bad7").state, State::kMiss);
}

TEST(KeyCacheBounds, SizeStaysBoundedUnderAFloodOfKeys) {
  testing::FakeClock clock;
  KeyCache cache(clock, 60s, 5s, /*max_entries=*/64);
  for (int i = 0; i < 10'000; ++i) {
    cache.put_invalid(name("random-", i));
    ASSERT_LE(cache.size(), 64u) << "after " << i + 1 << " inserts";
  }
  // The most recent insert is always kept.
  EXPECT_EQ(cache.get("random-9999").state, State::kInvalid);
}

// Two distinct hashes that land in the same shard (the cache shards by std::hash % 16).
std::pair<std::string, std::string> same_shard_pair() {
  std::string first = "live-0";
  std::size_t shard = std::hash<std::string>{}(first) % 16;
  for (int i = 1;; ++i) {
    std::string candidate = name("live-", i);
    if (std::hash<std::string>{}(candidate) % 16 == shard) return {first, candidate};
  }
}

TEST(KeyCacheBounds, ExpiredEntriesAreDroppedBeforeLiveOnes) {
  testing::FakeClock clock;
  KeyCache cache(clock, 60s, 5s, /*max_entries=*/32);  // 2 per shard
  for (int i = 0; i < 400; ++i) cache.put_invalid(name("old-", i));
  EXPECT_EQ(cache.size(), 32u);  // every shard full
  clock.advance(6s);             // every negative entry expired
  auto [a, b] = same_shard_pair();
  cache.put_valid(identity(a));
  cache.put_valid(identity(b));
  // Had the second insert evicted "anything" instead of the expired entries, `a` could be gone.
  EXPECT_EQ(cache.get(a).state, State::kValid);
  EXPECT_EQ(cache.get(b).state, State::kValid);
  EXPECT_LE(cache.size(), 32u);
}

TEST(KeyCacheBounds, ReplacingAnExistingKeyInAFullCacheEvictsNothing) {
  testing::FakeClock clock;
  KeyCache cache(clock, 60s, 5s, /*max_entries=*/16);  // 1 per shard
  cache.put_invalid("k");
  cache.put_valid(identity("k"));
  EXPECT_EQ(cache.get("k").state, State::kValid);
  EXPECT_EQ(cache.size(), 1u);
}

// Regression test; the bug it caught (fixed) was in (src/auth/key_cache.cpp:19): max_per_shard_ = max(1, max_entries / kShards) gives every one
// of the 16 shards at least one slot, so with max_entries < 16 the cache holds up to 16 entries,
// not max_entries (max_entries = 4 -> 16 entries). Fix: clamp in the constructor, e.g. reject
// max_entries < kShards, or keep a global atomic count and evict when it reaches max_entries.
TEST(KeyCacheBounds, SizeNeverExceedsASmallMaxEntries) {
  testing::FakeClock clock;
  KeyCache cache(clock, 60s, 5s, /*max_entries=*/4);
  for (int i = 0; i < 1000; ++i) cache.put_invalid(name("random-", i));
  EXPECT_LE(cache.size(), 4u);
}

TEST(KeyCacheBounds, ConcurrentUseIsSafe) {
  testing::FakeClock clock;
  KeyCache cache(clock, 60s, 5s, 256);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string h = name("t", t) + name("-", i % 300);
        if (i % 3 == 0) {
          cache.put_valid(identity(h));
        } else if (i % 3 == 1) {
          cache.put_invalid(h);
        } else {
          auto e = cache.get(h);
          if (e.state == State::kValid) {
            ASSERT_EQ(e.identity->key_hash, h);
          }
        }
        if (i % 500 == 0) cache.invalidate(h);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(cache.size(), 256u);
}

}  // namespace
}  // namespace cic::auth
