// ${NAME}, ${NAME:-default} and $$ in scalars, with a fake environment.
#include "config_test_support.hpp"

namespace cic::config::test {
namespace {

class EnvExpansionTest : public ConfigTest {};

TEST_F(EnvExpansionTest, ReplacesVariablesInStringsNumbersAndLists) {
  fake_vars()["SECRET"] = kSecret;
  fake_vars()["PORT"] = "8181";
  fake_vars()["THREADS"] = "3";
  fake_vars()["MODEL"] = "llama";
  const Config config = parse(catalog_yaml() + R"(
server:
  listen: "127.0.0.1:${PORT}"
  threads: ${THREADS}
bootstrap: {enabled: true, region: india, models: ["${MODEL}"]}
)");
  EXPECT_EQ(config.server.listen.port, 8181);
  EXPECT_EQ(config.server.threads, 3u);
  EXPECT_EQ(config.bootstrap.models, std::vector<std::string>{"llama"});
}

TEST_F(EnvExpansionTest, DefaultAppliesWhenUnsetOrEmpty) {
  fake_vars()["EMPTY"] = "";
  const Config config = parse(minimal_yaml() + R"(
store: {sqlite: {path: "${DB_DIR:-/var/lib/cic}/cic.db"}}
logging: {level: "${LEVEL:-debug}", format: "${EMPTY:-text}"}
)");
  EXPECT_EQ(config.store.sqlite.path, "/var/lib/cic/cic.db");
  EXPECT_EQ(config.logging.level, "debug");
  EXPECT_EQ(config.logging.format, "text");
}

TEST_F(EnvExpansionTest, SetVariableWinsOverDefault) {
  fake_vars()["LEVEL"] = "warn";
  EXPECT_EQ(parse(minimal_yaml() + "logging: {level: \"${LEVEL:-debug}\"}\n").logging.level, "warn");
}

TEST_F(EnvExpansionTest, MissingVariableNamesKeyAndVariable) {
  const auto issues = issues_of(minimal_yaml() + "store: {sqlite: {path: \"${CIC_DB_PATH}\"}}\n");
  EXPECT_TRUE(has_issue(issues, "store.sqlite.path", "CIC_DB_PATH is not set"));
}

TEST_F(EnvExpansionTest, MissingVariableInAListItemNamesTheItem) {
  const auto issues = issues_of(catalog_yaml() + "bootstrap: {models: [llama, \"${M2}\"]}\n");
  EXPECT_TRUE(has_issue(issues, "bootstrap.models[1]", "M2 is not set"));
}

TEST_F(EnvExpansionTest, DoubleDollarIsALiteralDollar) {
  const Config config = parse(minimal_yaml() + R"(
store: {sqlite: {path: "var/$${HOME}/a$$b$c"}}
)");
  EXPECT_EQ(config.store.sqlite.path, "var/${HOME}/a$b$c");
}

TEST_F(EnvExpansionTest, ValuesFromTheEnvironmentAreNotExpandedAgain) {
  fake_vars()["SECRET"] = "abc${NOT_SET}def$$-0123456789-0123456789-0123456789";
  const Config config = parse("auth: {key_hash_secret: \"${SECRET}\"}\n");
  EXPECT_EQ(config.auth.key_hash_secret, "abc${NOT_SET}def$$-0123456789-0123456789-0123456789");
}

TEST_F(EnvExpansionTest, UnterminatedAndInvalidReferencesAreReported) {
  const auto issues = issues_of(minimal_yaml() + R"(
store: {sqlite: {path: "${UNTERMINATED"}}
bootstrap: {org: "${1BAD}"}
)");
  EXPECT_TRUE(has_issue(issues, "store.sqlite.path", "unterminated"));
  EXPECT_TRUE(has_issue(issues, "bootstrap.org", "invalid environment variable reference"));
}

TEST_F(EnvExpansionTest, SecretsAreNeverEchoed) {
  const std::string short_secret = "hunter2-from-env";
  const std::string dsn = "postgresql://cic:p4ssw0rd@db/cic";
  fake_vars()["SECRET"] = short_secret;
  fake_vars()["DSN"] = dsn;
  try {
    parse(R"(
auth: {key_hash_secret: "${SECRET}"}
store: {backend: postgres, postgres: {dsn: "${DSN}", pool_size: many}}
)");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string text = e.what();
    EXPECT_TRUE(has_issue(e.issues(), "auth.key_hash_secret", "at least 32"));
    EXPECT_EQ(text.find(short_secret), std::string::npos) << text;
    EXPECT_EQ(text.find("p4ssw0rd"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace cic::config::test
