#pragma once
// Helpers shared by the config tests: a fake environment and issue matchers.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cic/config/config.hpp"

namespace cic::config::test {

/// EnvLookup is a plain function pointer, so the fake environment lives in a static map that each
/// test resets in SetUp.
inline std::map<std::string, std::string>& fake_vars() {
  static std::map<std::string, std::string> vars;
  return vars;
}

inline std::optional<std::string> fake_env(const std::string& name) {
  const auto it = fake_vars().find(name);
  if (it == fake_vars().end()) return std::nullopt;
  return it->second;
}

inline constexpr const char* kSecret = "0123456789abcdef0123456789abcdef-secret";

/// The smallest valid config: only the required secret.
inline std::string minimal_yaml() {
  return std::string("auth:\n  key_hash_secret: \"") + kSecret + "\"\n";
}

/// A small catalog (two regions, two models, one node) to hang reference tests on.
inline std::string catalog_yaml() {
  return minimal_yaml() + R"(
regions:
  - {name: india, display_name: India, fallback: [apac]}
  - {name: apac, fallback: [india]}
models:
  - {id: llama, family: llama, kind: chat, context_length: 8192}
  - {id: embed, family: bge, kind: embedding, context_length: 512, default_max_tokens: 1}
nodes:
  - {id: n1, region: india, endpoint: "http://127.0.0.1:18101", models: [llama]}
)";
}

inline std::string source_dir() {
  const char* dir = std::getenv("CIC_SOURCE_DIR");
  return dir != nullptr ? dir : CIC_TEST_SOURCE_DIR;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { fake_vars().clear(); }

  Config parse(const std::string& yaml) { return parse_config(yaml, "test.yaml", fake_env); }

  /// Parses text that must be rejected and returns every issue.
  std::vector<ConfigIssue> issues_of(const std::string& yaml) {
    try {
      parse(yaml);
    } catch (const ConfigError& e) {
      return e.issues();
    }
    ADD_FAILURE() << "expected a ConfigError for:\n" << yaml;
    return {};
  }
};

/// True when some issue has exactly `key` and a reason containing `fragment`.
inline ::testing::AssertionResult has_issue(const std::vector<ConfigIssue>& issues,
                                            const std::string& key, const std::string& fragment) {
  for (const auto& issue : issues) {
    if (issue.key == key && issue.reason.find(fragment) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  auto failure = ::testing::AssertionFailure();
  failure << "no issue at \"" << key << "\" mentioning \"" << fragment << "\"; got:";
  for (const auto& issue : issues) failure << "\n  " << issue.to_string();
  return failure;
}

}  // namespace cic::config::test
