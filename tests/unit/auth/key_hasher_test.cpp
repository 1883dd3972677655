// KeyHasher (HMAC-SHA256, lowercase hex) and constant_time_equal.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "cic/auth/api_key.hpp"
#include "cic/auth/key_hasher.hpp"

namespace cic::auth {
namespace {

bool lower_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(KeyHasher, MatchesRfc4231TestCase2) {
  KeyHasher hasher("Jefe");
  EXPECT_EQ(hasher.hash("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(KeyHasher, IsSixtyFourLowercaseHexChars) {
  KeyHasher hasher("server-secret");
  for (std::string key : {std::string(), std::string("x"), generate_api_key("dev"), std::string(10'000, 'k')}) {
    std::string h = hasher.hash(key);
    EXPECT_EQ(h.size(), 64u);
    EXPECT_TRUE(lower_hex(h)) << h;
  }
}

TEST(KeyHasher, IsDeterministic) {
  KeyHasher a("server-secret");
  KeyHasher b("server-secret");
  const std::string key = generate_api_key("prod");
  EXPECT_EQ(a.hash(key), a.hash(key));
  EXPECT_EQ(a.hash(key), b.hash(key));
}

TEST(KeyHasher, DiffersBySecretAndByKey) {
  KeyHasher a("secret-one");
  KeyHasher b("secret-two");
  const std::string key = generate_api_key("dev");
  EXPECT_NE(a.hash(key), b.hash(key));
  EXPECT_NE(a.hash(key), a.hash(key + "x"));
  std::string flipped = key;
  flipped.back() = flipped.back() == 'a' ? 'b' : 'a';
  EXPECT_NE(a.hash(key), a.hash(flipped));
}

TEST(KeyHasher, HandlesEmbeddedNulBytes) {
  KeyHasher hasher("s");
  EXPECT_NE(hasher.hash(std::string("a\0b", 3)), hasher.hash("a"));
}

TEST(KeyHasher, EmptySecretThrows) { EXPECT_THROW(KeyHasher(""), std::invalid_argument); }

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "Abc"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("ab", "abc"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace cic::auth
