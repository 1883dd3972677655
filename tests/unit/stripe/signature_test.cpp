// Stripe-Signature verification in Stripe's documented format (t=..,v1=.. over "<t>.<body>",
// HMAC-SHA256 keyed with the whole whsec_ secret), and the same scheme signing our alerts. The
// expected digests were computed independently (Python's hmac module).
#include <gtest/gtest.h>

#include "cic/stripe/signature.hpp"

namespace cic::stripe {
namespace {

constexpr const char* kSecret = "whsec_test_secret_0123456789";
constexpr const char* kBody = R"({"id":"evt_1","object":"event"})";
constexpr const char* kDigest = "0f06c232d18bc676bfacfc5240a2cfe4559e99421aacd50637b2ba2c7262e338";
constexpr std::int64_t kT = 1'700'000'000;

std::string header(std::int64_t t, const std::string& v1) { return "t=" + std::to_string(t) + ",v1=" + v1; }

TEST(HmacTest, MatchesTheStandardVector) {
  EXPECT_EQ(hmac_sha256_hex("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  EXPECT_EQ(hmac_sha256_hex(kSecret, std::string("1700000000.") + kBody), kDigest);
}

TEST(SignTest, SignsTimestampDotBody) {
  EXPECT_EQ(sign_payload(kSecret, kT, kBody), header(kT, kDigest));
  EXPECT_EQ(verify_signature(sign_payload(kSecret, kT, kBody), kBody, kSecret, kT), SignatureCheck::kValid);
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equals("abc", "abc"));
  EXPECT_FALSE(constant_time_equals("abc", "abd"));
  EXPECT_FALSE(constant_time_equals("abc", "abcd"));
  EXPECT_TRUE(constant_time_equals("", ""));
}

struct Case {
  const char* name;
  std::string header;
  std::string body;
  std::int64_t now;
  SignatureCheck expected;
};

class VerifyTest : public ::testing::TestWithParam<Case> {};

TEST_P(VerifyTest, Verdict) {
  const Case& c = GetParam();
  EXPECT_EQ(verify_signature(c.header, c.body, kSecret, c.now, 300), c.expected)
      << c.name << ": got " << to_string(verify_signature(c.header, c.body, kSecret, c.now, 300));
}

const std::string kBad(64, 'a');

INSTANTIATE_TEST_SUITE_P(
    Table, VerifyTest,
    ::testing::Values(
        Case{"valid", header(kT, kDigest), kBody, kT, SignatureCheck::kValid},
        Case{"valid 299 s later", header(kT, kDigest), kBody, kT + 299, SignatureCheck::kValid},
        Case{"valid at the tolerance", header(kT, kDigest), kBody, kT + 300, SignatureCheck::kValid},
        Case{"too old", header(kT, kDigest), kBody, kT + 301, SignatureCheck::kOutOfTolerance},
        Case{"from the future", header(kT, kDigest), kBody, kT - 301, SignatureCheck::kOutOfTolerance},
        Case{"second v1 matches (secret roll)", header(kT, kBad) + ",v1=" + kDigest, kBody, kT, SignatureCheck::kValid},
        Case{"v0 ignored", "t=1700000000,v0=" + std::string(kDigest), kBody, kT, SignatureCheck::kMissing},
        Case{"v0 beside a good v1", "t=1700000000,v0=" + kBad + ",v1=" + kDigest, kBody, kT, SignatureCheck::kValid},
        Case{"spaces around items", "t=1700000000, v1=" + std::string(kDigest), kBody, kT, SignatureCheck::kValid},
        Case{"items in another order", "v1=" + std::string(kDigest) + ",t=1700000000", kBody, kT, SignatureCheck::kValid},
        Case{"tampered body", header(kT, kDigest), R"({"id":"evt_2","object":"event"})", kT, SignatureCheck::kMismatch},
        Case{"body with a trailing newline", header(kT, kDigest), std::string(kBody) + "\n", kT, SignatureCheck::kMismatch},
        Case{"other timestamp signed", header(kT + 1, kDigest), kBody, kT, SignatureCheck::kMismatch},
        Case{"upper-case hex", header(kT, "0F06C232D18BC676BFACFC5240A2CFE4559E99421AACD50637B2BA2C7262E338"), kBody, kT,
             SignatureCheck::kMismatch},
        Case{"truncated digest", header(kT, std::string(kDigest).substr(0, 63)), kBody, kT, SignatureCheck::kMismatch},
        Case{"empty header", "", kBody, kT, SignatureCheck::kMissing},
        Case{"no v1", "t=1700000000", kBody, kT, SignatureCheck::kMissing},
        Case{"no t", "v1=" + std::string(kDigest), kBody, kT, SignatureCheck::kMissing},
        Case{"t not a number", "t=soon,v1=" + std::string(kDigest), kBody, kT, SignatureCheck::kMalformed},
        Case{"garbage", "Bearer sk_test_123", kBody, kT, SignatureCheck::kMissing}),
    [](const auto& info) {
      std::string name;
      for (char c : std::string(info.param.name)) name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
      return name;
    });

TEST(VerifyTest, AWrongSecretNeverVerifies) {
  EXPECT_EQ(verify_signature(header(kT, kDigest), kBody, "whsec_other_secret_000000", kT), SignatureCheck::kMismatch);
}

}  // namespace
}  // namespace cic::stripe
