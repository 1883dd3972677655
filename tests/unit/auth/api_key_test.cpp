// API key format: sk_{env}_ + 40 base62 random + 6 base62 checksum (CRC-32 of the head).
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>

#include "cic/auth/api_key.hpp"

namespace cic::auth {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

bool all_base62(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return kAlphabet.find(c) != std::string_view::npos; });
}

TEST(ApiKeyGenerate, HasPrefixFortyRandomAndSixChecksumChars) {
  for (std::string env : {"dev", "prod", "admin", "x"}) {
    std::string key = generate_api_key(env);
    std::string prefix = "sk_" + env + "_";
    ASSERT_TRUE(key.starts_with(prefix)) << key;
    ASSERT_EQ(key.size(), prefix.size() + 40 + 6) << key;
    EXPECT_TRUE(all_base62(std::string_view(key).substr(prefix.size()))) << key;
    EXPECT_TRUE(has_valid_api_key_shape(key)) << key;
  }
}

TEST(ApiKeyGenerate, TenThousandKeysAreUnique) {
  std::unordered_set<std::string> keys;
  std::unordered_set<std::string> bodies;
  for (int i = 0; i < 10'000; ++i) {
    std::string key = generate_api_key("dev");
    keys.insert(key);
    bodies.insert(key.substr(7, 40));
  }
  EXPECT_EQ(keys.size(), 10'000u);
  EXPECT_EQ(bodies.size(), 10'000u);
}

TEST(ApiKeyGenerate, UsesTheWholeAlphabet) {
  // 2000 keys * 40 chars = 80k draws; every one of the 62 symbols must appear (a broken mapping
  // such as b % 36 would leave the lowercase letters out).
  std::unordered_set<char> seen;
  for (int i = 0; i < 2000; ++i) {
    std::string key = generate_api_key("dev");
    for (char c : std::string_view(key).substr(7, 40)) seen.insert(c);
  }
  EXPECT_EQ(seen.size(), 62u);
}

TEST(ApiKeyGenerate, RejectsInvalidEnvironmentNames) {
  EXPECT_THROW(generate_api_key(""), std::invalid_argument);
  EXPECT_THROW(generate_api_key("Dev"), std::invalid_argument);
  EXPECT_THROW(generate_api_key("dev1"), std::invalid_argument);
  EXPECT_THROW(generate_api_key("de_v"), std::invalid_argument);
  EXPECT_THROW(generate_api_key("abcdefghijklmnopq"), std::invalid_argument);  // 17 letters
  EXPECT_NO_THROW(generate_api_key("abcdefghijklmnop"));                         // 16 letters
}

TEST(ApiKeyShape, EverySingleCharacterSubstitutionIsRejected) {
  // CRC-32 detects every single-symbol change, so a typo anywhere in the key must be caught.
  for (int k = 0; k < 5; ++k) {
    const std::string key = generate_api_key("prod");
    ASSERT_TRUE(has_valid_api_key_shape(key));
    for (std::size_t pos = 0; pos < key.size(); ++pos) {
      for (char c : kAlphabet) {
        if (c == key[pos]) continue;
        std::string typo = key;
        typo[pos] = c;
        ASSERT_FALSE(has_valid_api_key_shape(typo)) << "position " << pos << " -> " << c << ": " << typo;
      }
      for (char c : {'_', '-', '+', '/', '=', ' ', '\0'}) {
        if (c == key[pos]) continue;
        std::string typo = key;
        typo[pos] = c;
        ASSERT_FALSE(has_valid_api_key_shape(typo)) << "position " << pos;
      }
    }
  }
}

TEST(ApiKeyShape, AdjacentTranspositionsAreRejected) {
  const std::string key = generate_api_key("dev");
  for (std::size_t pos = 7; pos + 1 < key.size(); ++pos) {
    if (key[pos] == key[pos + 1]) continue;
    std::string swapped = key;
    std::swap(swapped[pos], swapped[pos + 1]);
    EXPECT_FALSE(has_valid_api_key_shape(swapped)) << "swap at " << pos;
  }
}

TEST(ApiKeyShape, RejectsTruncatedAndExtendedKeys) {
  const std::string key = generate_api_key("dev");
  for (std::size_t len = 0; len < key.size(); ++len) {
    EXPECT_FALSE(has_valid_api_key_shape(std::string_view(key).substr(0, len))) << "length " << len;
  }
  EXPECT_FALSE(has_valid_api_key_shape(key + "0"));
  EXPECT_FALSE(has_valid_api_key_shape(key + "a"));
  EXPECT_FALSE(has_valid_api_key_shape("0" + key));
  EXPECT_FALSE(has_valid_api_key_shape(key + "\n"));
  EXPECT_FALSE(has_valid_api_key_shape(" " + key));
}

TEST(ApiKeyShape, RejectsWrongPrefixes) {
  const std::string key = generate_api_key("dev");
  const std::string body = key.substr(7);
  EXPECT_FALSE(has_valid_api_key_shape("pk_dev_" + body));
  EXPECT_FALSE(has_valid_api_key_shape("SK_dev_" + body));
  EXPECT_FALSE(has_valid_api_key_shape("sk-dev_" + body));
  EXPECT_FALSE(has_valid_api_key_shape("sk_dev-" + body));
  EXPECT_FALSE(has_valid_api_key_shape("sk__" + body));
  EXPECT_FALSE(has_valid_api_key_shape("sk_" + body));
  EXPECT_FALSE(has_valid_api_key_shape("sk_prod_" + body));  // checksum covers the env
  EXPECT_FALSE(has_valid_api_key_shape(body));
}

TEST(ApiKeyShape, RejectsUppercaseEnvironmentEvenWithMatchingChecksum) {
  // Build "sk_DEV_..." with a correct checksum: only the env rule may reject it.
  const std::string key = generate_api_key("dev");
  std::string upper = "sk_DEV_" + key.substr(7);
  EXPECT_FALSE(has_valid_api_key_shape(upper));
  EXPECT_EQ(api_key_environment(upper), "");
  EXPECT_EQ(api_key_prefix(upper), "");
}

TEST(ApiKeyShape, RejectsEmptyAndNonBase62Input) {
  EXPECT_FALSE(has_valid_api_key_shape(""));
  EXPECT_FALSE(has_valid_api_key_shape("sk_"));
  EXPECT_FALSE(has_valid_api_key_shape("sk_dev_"));
  EXPECT_FALSE(has_valid_api_key_shape("Bearer"));
  EXPECT_FALSE(has_valid_api_key_shape("sk_dev_" + std::string(46, '-')));
  EXPECT_FALSE(has_valid_api_key_shape("sk_dev_" + std::string(46, '\xC3')));
  EXPECT_FALSE(has_valid_api_key_shape("sk_dev_" + std::string(46, '0')));  // base62 but bad checksum
}

TEST(ApiKeyShape, AcceptsKeysOfEveryEnvironment) {
  for (std::string env : {"a", "dev", "staging", "abcdefghijklmnop"}) {
    EXPECT_TRUE(has_valid_api_key_shape(generate_api_key(env))) << env;
  }
}

TEST(ApiKeyEnvironment, ReturnsTheEnvPartOfWellShapedKeys) {
  EXPECT_EQ(api_key_environment(generate_api_key("dev")), "dev");
  EXPECT_EQ(api_key_environment(generate_api_key("prod")), "prod");
  EXPECT_EQ(api_key_environment(generate_api_key("a")), "a");
}

TEST(ApiKeyEnvironment, IsEmptyWithoutTheSkEnvPrefix) {
  EXPECT_EQ(api_key_environment(""), "");
  EXPECT_EQ(api_key_environment("sk_"), "");
  EXPECT_EQ(api_key_environment("sk_dev"), "");
  EXPECT_EQ(api_key_environment("sk__abc"), "");
  EXPECT_EQ(api_key_environment("sk_Dev_abc"), "");
  EXPECT_EQ(api_key_environment("pk_dev_abc"), "");
}

// Regression test; the bug it caught (fixed) was in (src/auth/api_key.cpp:95-99): the header promises the environment of a *well-shaped* key and
// "empty otherwise", but api_key_environment only checks the "sk_{env}_" prefix, so a truncated
// or mistyped key still yields an environment. Fix: return {} unless has_valid_api_key_shape(key).
TEST(ApiKeyEnvironment, IsEmptyForKeysThatAreNotWellShaped) {
  const std::string key = generate_api_key("dev");
  EXPECT_EQ(api_key_environment("sk_dev_abc"), "");
  EXPECT_EQ(api_key_environment(key.substr(0, key.size() - 1)), "");
}

TEST(ApiKeyPrefix, IsEnvPrefixPlusFourRandomChars) {
  const std::string key = generate_api_key("prod");
  EXPECT_EQ(api_key_prefix(key), key.substr(0, 12));
  EXPECT_TRUE(api_key_prefix(key).starts_with("sk_prod_"));
  EXPECT_EQ(api_key_prefix(key).size(), 12u);
  EXPECT_EQ(api_key_prefix("sk_dev_abcdefgh"), "sk_dev_abcd");
}

TEST(ApiKeyPrefix, EmptyForForeignStrings) {
  EXPECT_EQ(api_key_prefix(""), "");
  EXPECT_EQ(api_key_prefix("hello"), "");
  EXPECT_EQ(api_key_prefix("sk_DEV_abcdef"), "");
}

TEST(ApiKeyPrefix, NeverLongerThanTheKey) {
  EXPECT_EQ(api_key_prefix("sk_dev_ab"), "sk_dev_ab");
  EXPECT_EQ(api_key_prefix("sk_dev_"), "sk_dev_");
}

}  // namespace
}  // namespace cic::auth
