#include "retry_budget.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace cic::gateway {
namespace {

using std::chrono::milliseconds;

TEST(RetryBudget, RetriesAreAtMostTheRatioOfActiveRequests) {
  RetryBudget budget(0.2, 0);
  std::vector<std::unique_ptr<RetryBudget::Active>> active;
  for (int i = 0; i < 100; ++i) active.push_back(std::make_unique<RetryBudget::Active>(budget));
  std::vector<RetryBudget::Retry> retries;
  int granted = 0;
  for (int i = 0; i < 50; ++i) {
    RetryBudget::Retry r(budget);
    if (r.granted()) ++granted;
    retries.push_back(std::move(r));
  }
  EXPECT_EQ(granted, 20);
  EXPECT_EQ(budget.retries(), 20);
  retries.clear();
  EXPECT_EQ(budget.retries(), 0) << "finished retries give their slot back";
  EXPECT_TRUE(RetryBudget::Retry(budget).granted());
}

TEST(RetryBudget, AMinimumOfRetriesIsAlwaysAllowed) {
  RetryBudget budget(0.2, 3);
  RetryBudget::Active one(budget);
  RetryBudget::Retry a(budget), b(budget), c(budget), d(budget);
  EXPECT_TRUE(a.granted());
  EXPECT_TRUE(b.granted());
  EXPECT_TRUE(c.granted());
  EXPECT_FALSE(d.granted());
  EXPECT_EQ(budget.retries(), 3);
}

TEST(RetryBudget, ZeroRatioAndZeroMinimumMeansNoRetries) {
  RetryBudget budget(0.0, 0);
  RetryBudget::Active one(budget);
  EXPECT_FALSE(RetryBudget::Retry(budget).granted());
}

TEST(RetryBackoff, FullJitterWithinACappedExponentialRange) {
  EXPECT_EQ(retry_backoff(0, milliseconds(25), milliseconds(250), 12345).count(), 0);
  EXPECT_EQ(retry_backoff(1, milliseconds(0), milliseconds(250), 12345).count(), 0);
  std::int64_t seen_max[4] = {0, 0, 0, 0};
  for (std::uint64_t r = 0; r < 1000; ++r) {
    for (unsigned k = 1; k <= 3; ++k) {
      auto d = retry_backoff(k, milliseconds(25), milliseconds(60), r * 7919).count();
      EXPECT_GE(d, 0);
      seen_max[k] = std::max(seen_max[k], d);
    }
  }
  EXPECT_EQ(seen_max[1], 25);
  EXPECT_EQ(seen_max[2], 50);
  EXPECT_EQ(seen_max[3], 60) << "capped at max";
}

}  // namespace
}  // namespace cic::gateway
