// KeyIdentity: expiry at use time and the model allow-list.
#include <gtest/gtest.h>

#include "cic/auth/key_identity.hpp"

namespace cic::auth {
namespace {

TEST(KeyIdentity, WithoutExpiryNeverExpires) {
  KeyIdentity id;
  EXPECT_FALSE(id.expired(0));
  EXPECT_FALSE(id.expired(INT64_MAX));
}

TEST(KeyIdentity, ExpiresAtTheExactMillisecond) {
  KeyIdentity id;
  id.expires_at = 1'700'000'000'000;
  EXPECT_FALSE(id.expired(1'699'999'999'999));
  EXPECT_TRUE(id.expired(1'700'000'000'000));
  EXPECT_TRUE(id.expired(1'700'000'000'001));
}

TEST(KeyIdentity, ModelEnabledIsAnExactMatch) {
  KeyIdentity id;
  id.models = {"llama-3-8b", "qwen/qwen-2-7b"};
  EXPECT_TRUE(id.model_enabled("llama-3-8b"));
  EXPECT_TRUE(id.model_enabled("qwen/qwen-2-7b"));
  EXPECT_FALSE(id.model_enabled("llama-3"));
  EXPECT_FALSE(id.model_enabled("LLAMA-3-8B"));
  EXPECT_FALSE(id.model_enabled("qwen-2-7b"));
  EXPECT_FALSE(id.model_enabled(""));
}

TEST(KeyIdentity, NoModelsEnablesNothing) {
  KeyIdentity id;
  EXPECT_FALSE(id.model_enabled("llama-3-8b"));
}

}  // namespace
}  // namespace cic::auth
