// Shape problems: YAML syntax, unknown and duplicate keys, wrong types, several issues at once.
#include "config_test_support.hpp"

namespace cic::config::test {
namespace {

class StructureTest : public ConfigTest {};

TEST_F(StructureTest, SyntaxErrorNamesLineAndColumn) {
  const auto issues = issues_of("server:\n  listen: \"127.0.0.1:8080\"\n  threads: [1, 2\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].file, "test.yaml");
  EXPECT_NE(issues[0].key.find("line 4"), std::string::npos) << issues[0].key;
  EXPECT_NE(issues[0].key.find("column"), std::string::npos) << issues[0].key;
  EXPECT_NE(issues[0].reason.find("YAML syntax error"), std::string::npos);
}

TEST_F(StructureTest, SyntaxErrorOnAnEarlierLine) {
  const auto issues = issues_of("server:\n  threads: 2\n  listen: a: b\nadmin: {}\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].key, "line 3, column 12");
  EXPECT_NE(issues[0].reason.find("illegal map value"), std::string::npos) << issues[0].reason;
}

TEST_F(StructureTest, UnknownTopLevelKeyIsNamedWithTheAllowedOnes) {
  const auto issues = issues_of(minimal_yaml() + "servr: {threads: 2}\n");
  EXPECT_TRUE(has_issue(issues, "servr", "unknown key"));
  EXPECT_TRUE(has_issue(issues, "servr", "server, admin, store"));
}

TEST_F(StructureTest, UnknownNestedKeyIsNamed) {
  const auto issues = issues_of(minimal_yaml() + "server: {limits: {max_body_byte: 2048}}\n");
  EXPECT_TRUE(has_issue(issues, "server.limits.max_body_byte", "unknown key"));
  EXPECT_TRUE(has_issue(issues, "server.limits.max_body_byte", "max_body_bytes"));
}

TEST_F(StructureTest, UnknownKeyInAListItemIsNamed) {
  const auto issues = issues_of(catalog_yaml() + R"(
  - {id: n2, region: india, endpoint: "http://h:1", models: [llama], gpu: a100}
)");
  EXPECT_TRUE(has_issue(issues, "nodes[1].gpu", "unknown key"));
}

TEST_F(StructureTest, DuplicateKeyIsReported) {
  const auto issues = issues_of(minimal_yaml() + "logging:\n  level: info\n  level: debug\n");
  EXPECT_TRUE(has_issue(issues, "logging.level", "duplicate key"));
}

TEST_F(StructureTest, WrongTypesAreReported) {
  const auto issues = issues_of(minimal_yaml() + R"(
server: {threads: lots, limits: {max_body_bytes: lots}}
admin: 5
upstream: {max_attempts: [1, 2]}
regions: {name: india}
)");
  EXPECT_TRUE(has_issue(issues, "server.threads", "expected a non-negative integer, got \"lots\""));
  EXPECT_TRUE(has_issue(issues, "server.limits.max_body_bytes",
                        "expected a positive integer, got \"lots\""));
  EXPECT_TRUE(has_issue(issues, "admin", "expected a mapping"));
  EXPECT_TRUE(has_issue(issues, "upstream.max_attempts", "got a sequence"));
  EXPECT_TRUE(has_issue(issues, "regions", "expected a list"));
}

TEST_F(StructureTest, WrongScalarTypesInCatalog) {
  const auto issues = issues_of(catalog_yaml() + R"(
  - {id: n2, region: india, endpoint: "http://h:1", models: llama, spot: maybe, price_per_hour: cheap}
)");
  EXPECT_TRUE(has_issue(issues, "nodes[1].models", "expected a list of strings"));
  EXPECT_TRUE(has_issue(issues, "nodes[1].spot", "expected true or false, got \"maybe\""));
  EXPECT_TRUE(has_issue(issues, "nodes[1].price_per_hour", "expected a number"));
}

TEST_F(StructureTest, RootMustBeAMapping) {
  EXPECT_TRUE(has_issue(issues_of("- a\n- b\n"), "(root)", "expected a mapping"));
}

TEST_F(StructureTest, EmptyDocumentOnlyLacksTheSecret) {
  const auto issues = issues_of("");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_TRUE(has_issue(issues, "auth.key_hash_secret", "is required"));
}

TEST_F(StructureTest, EveryIssueOfOneFileIsReportedTogether) {
  try {
    parse(R"(
server: {threads: 999, listen: "nowhere"}
store: {backend: mysql}
logging: {level: loud, colour: true}
)");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const auto& issues = e.issues();
    EXPECT_TRUE(has_issue(issues, "server.threads", "between 0 and 256"));
    EXPECT_TRUE(has_issue(issues, "server.listen", "host:port"));
    EXPECT_TRUE(has_issue(issues, "store.backend", "expected one of sqlite, postgres"));
    EXPECT_TRUE(has_issue(issues, "auth.key_hash_secret", "is required"));
    EXPECT_TRUE(has_issue(issues, "logging.level", "got \"loud\""));
    EXPECT_TRUE(has_issue(issues, "logging.colour", "unknown key"));
    EXPECT_EQ(issues.size(), 6u);
    // what() is every issue, one per line, each "<file>: <key>: <reason>".
    const std::string text = e.what();
    EXPECT_EQ(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')),
              issues.size() - 1);
    EXPECT_NE(text.find("test.yaml: server.threads: must be between 0 and 256"), std::string::npos)
        << text;
  }
}

}  // namespace
}  // namespace cic::config::test
