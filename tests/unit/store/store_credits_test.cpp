// Contract: the credit ledger (migration 0006) behaves the same on every backend — append, list,
// idempotency per org, audit in the same transaction, constraints.
#include <atomic>
#include <thread>

#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

using StoreCredits = StoreContract;

CreditEntry credit(const std::string& org_id, const std::string& kind, std::int64_t micros,
                   const std::string& key = "") {
  CreditEntry e;
  e.org_id = org_id;
  e.kind = kind;
  e.amount_micros = micros;
  e.idempotency_key = key;
  return e;
}

std::size_t audits_of(Store& store, const std::string& action) {
  std::size_t n = 0;
  for (const auto& a : all_audit(store)) n += a.action == action ? 1 : 0;
  return n;
}

TEST_P(StoreCredits, AddCreditFillsIdCreatedAtAndKey) {
  Org org = store_->create_org(Org{.name = "acme"});
  auto result = store_->add_credit(credit(org.id, "signup_bonus", 10'000'000));
  EXPECT_TRUE(result.created);
  EXPECT_TRUE(result.entry.id.starts_with("crd_")) << result.entry.id;
  EXPECT_GT(result.entry.created_at, 0);
  EXPECT_EQ(result.entry.idempotency_key, result.entry.id);  // no key given: no deduplication
  auto listed = store_->list_credits(org.id);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, result.entry.id);
  EXPECT_EQ(listed[0].idempotency_key, result.entry.id);
}

TEST_P(StoreCredits, CreditRowsRoundTripOldestFirst) {
  Org org = store_->create_org(Org{.name = "acme"});
  CreditEntry grant = credit(org.id, "promotional", 2'500'000, "promo-2024");
  grant.id = "crd_grant";
  grant.expires_at = 1'800'000'000'000;
  grant.created_at = 2'000;
  grant.note = "launch promo: 'quoted' \"text\"";
  store_->add_credit(grant);
  CreditEntry use = credit(org.id, "promotional", -400'000, "invoice:2024-05:crd_grant");
  use.grant_id = "crd_grant";
  use.created_at = 3'000;
  store_->add_credit(use);
  CreditEntry older = credit(org.id, "paid", 1'000'000);
  older.created_at = 1'000;
  store_->add_credit(older);

  auto rows = store_->list_credits(org.id);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].kind, "paid");
  EXPECT_FALSE(rows[0].expires_at.has_value());
  const CreditEntry& g = rows[1];
  EXPECT_EQ(g.id, "crd_grant");
  EXPECT_EQ(g.org_id, org.id);
  EXPECT_EQ(g.kind, "promotional");
  EXPECT_EQ(g.amount_micros, 2'500'000);
  EXPECT_EQ(g.expires_at, 1'800'000'000'000);
  EXPECT_EQ(g.created_at, 2'000);
  EXPECT_EQ(g.note, "launch promo: 'quoted' \"text\"");
  EXPECT_EQ(g.idempotency_key, "promo-2024");
  EXPECT_EQ(g.grant_id, "");
  EXPECT_EQ(rows[2].amount_micros, -400'000);
  EXPECT_EQ(rows[2].grant_id, "crd_grant");
}

TEST_P(StoreCredits, CreditIdempotencyKeyIsUniquePerOrg) {
  Org acme = store_->create_org(Org{.name = "acme"});
  Org other = store_->create_org(Org{.name = "other"});
  auto audit = make_audit("credit.grant", "", acme.id);
  auto first = store_->add_credit(credit(acme.id, "signup_bonus", 10'000'000, "signup_bonus:x"), &audit);
  ASSERT_TRUE(first.created);
  // The replay writes nothing — not even its audit entry — and answers the first row, even if
  // its amount differs (the caller decides whether that is an error).
  auto replay = store_->add_credit(credit(acme.id, "signup_bonus", 99, "signup_bonus:x"), &audit);
  EXPECT_FALSE(replay.created);
  EXPECT_EQ(replay.entry.id, first.entry.id);
  EXPECT_EQ(replay.entry.amount_micros, 10'000'000);
  EXPECT_EQ(store_->list_credits(acme.id).size(), 1u);
  EXPECT_EQ(audits_of(*store_, "credit.grant"), 1u);
  // Another org may use the same key.
  auto theirs = store_->add_credit(credit(other.id, "signup_bonus", 10'000'000, "signup_bonus:x"));
  EXPECT_TRUE(theirs.created);
  EXPECT_NE(theirs.entry.id, first.entry.id);
  EXPECT_EQ(store_->list_credits(other.id).size(), 1u);
  EXPECT_TRUE(store_->list_credits("org_nobody").empty());
}

TEST_P(StoreCredits, CreditForUnknownOrgOrOfZeroIsRefused) {
  EXPECT_THROW(store_->add_credit(credit("org_missing", "paid", 1)), StoreError);
  Org org = store_->create_org(Org{.name = "acme"});
  EXPECT_THROW(store_->add_credit(credit(org.id, "paid", 0)), StoreError);
  EXPECT_TRUE(store_->list_credits(org.id).empty());
  // Still usable after the failures.
  EXPECT_TRUE(store_->add_credit(credit(org.id, "paid", 1)).created);
}

TEST_P(StoreCredits, ConcurrentAddsWithOneKeyWriteOneRow) {
  Org org = store_->create_org(Org{.name = "acme"});
  auto other = open_store(4);
  constexpr int kThreads = 8;
  std::atomic<int> created{0};
  std::vector<std::string> ids(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Store& s = i % 2 == 0 ? *store_ : *other;
      auto r = s.add_credit(credit(org.id, "referral", 5'000'000, "referral:org_friend"));
      if (r.created) created.fetch_add(1);
      ids[i] = r.entry.id;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(store_->list_credits(org.id).size(), 1u);
}

TEST_P(StoreCredits, CreditsSurviveAReopen) {
  Org org = store_->create_org(Org{.name = "acme"});
  store_->add_credit(credit(org.id, "paid", 7'000'000, "pay-1"));
  reopen();
  auto rows = store_->list_credits(org.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].amount_micros, 7'000'000);
  EXPECT_FALSE(store_->add_credit(credit(org.id, "paid", 7'000'000, "pay-1")).created);
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Backends, StoreCredits, ::testing::Values(kSqlite, kPostgres), backend_name);

}  // namespace cic::store::testing
