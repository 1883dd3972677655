// Cross-references: unique ids, regions, catalog models, endpoints, bootstrap.
#include "config_test_support.hpp"

namespace cic::config::test {
namespace {

class ReferencesTest : public ConfigTest {};

TEST_F(ReferencesTest, CatalogParses) {
  const Config config = parse(catalog_yaml());
  ASSERT_EQ(config.nodes.size(), 1u);
  EXPECT_EQ(config.nodes[0].provider, "static");
  EXPECT_EQ(config.find_model("embed")->default_max_tokens, 1);
  EXPECT_EQ(config.find_model("llama")->default_max_tokens, 256);
}

TEST_F(ReferencesTest, IdsMustBeUnique) {
  const auto issues = issues_of(minimal_yaml() + R"(
regions: [{name: india}, {name: india}]
models: [{id: m}, {id: x}, {id: m}]
nodes:
  - {id: n, region: india, endpoint: "http://h:1", models: [m]}
  - {id: n, region: india, endpoint: "http://h:2", models: [m]}
)");
  EXPECT_TRUE(has_issue(issues, "regions[1].name", "duplicate name \"india\""));
  EXPECT_TRUE(has_issue(issues, "models[2].id", "already used by models[0]"));
  EXPECT_TRUE(has_issue(issues, "nodes[1].id", "duplicate id \"n\""));
}

TEST_F(ReferencesTest, IdsAreRequiredAndWellFormed) {
  const auto issues = issues_of(minimal_yaml() + R"(
regions: [{display_name: Nowhere}]
models: [{id: "has space"}]
)");
  EXPECT_TRUE(has_issue(issues, "regions[0].name", "is required"));
  EXPECT_TRUE(has_issue(issues, "models[0].id", "only letters, digits"));
}

TEST_F(ReferencesTest, NodeRegionMustBeConfigured) {
  const auto issues = issues_of(catalog_yaml() + R"(
  - {id: n2, region: mars, endpoint: "http://h:1", models: [llama]}
)");
  EXPECT_TRUE(has_issue(issues, "nodes[1].region", "unknown region \"mars\""));
  EXPECT_TRUE(has_issue(issues, "nodes[1].region", "india, apac"));
}

TEST_F(ReferencesTest, NodeModelsMustBeInTheCatalog) {
  const auto issues = issues_of(catalog_yaml() + R"(
  - {id: n2, region: india, endpoint: "http://h:1", models: [llama, gpt-5]}
  - {id: n3, region: india, endpoint: "http://h:1", models: []}
)");
  EXPECT_TRUE(has_issue(issues, "nodes[1].models[1]", "unknown model \"gpt-5\""));
  EXPECT_TRUE(has_issue(issues, "nodes[2].models", "at least one"));
}

TEST_F(ReferencesTest, FallbacksMustNameOtherConfiguredRegions) {
  const auto issues = issues_of(minimal_yaml() + R"(
regions:
  - {name: india, fallback: [india, apac]}
  - {name: apac, fallback: [atlantis, india, india]}
)");
  EXPECT_TRUE(has_issue(issues, "regions[0].fallback[0]", "cannot fall back to itself"));
  EXPECT_TRUE(has_issue(issues, "regions[1].fallback[0]", "unknown region \"atlantis\""));
  EXPECT_TRUE(has_issue(issues, "regions[1].fallback[2]", "listed twice"));
  EXPECT_EQ(issues.size(), 3u);
}

TEST_F(ReferencesTest, EndpointNeedsSchemeHostAndPort) {
  const auto issues = issues_of(catalog_yaml() + R"(
  - {id: a, region: india, endpoint: "ftp://h:21", models: [llama]}
  - {id: b, region: india, endpoint: "http://h", models: [llama]}
  - {id: c, region: india, endpoint: "http://h:8000/v1", models: [llama]}
  - {id: d, region: india, endpoint: "https://:8000", models: [llama]}
  - {id: e, region: india, endpoint: "http://bad_host:8000", models: [llama]}
  - {id: f, region: india, models: [llama]}
)");
  EXPECT_TRUE(has_issue(issues, "nodes[1].endpoint", "http:// or https://"));
  EXPECT_TRUE(has_issue(issues, "nodes[2].endpoint", "explicit port"));
  EXPECT_TRUE(has_issue(issues, "nodes[3].endpoint", "without a path"));
  EXPECT_TRUE(has_issue(issues, "nodes[4].endpoint", "host:port"));
  EXPECT_TRUE(has_issue(issues, "nodes[5].endpoint", "not a valid host"));
  EXPECT_TRUE(has_issue(issues, "nodes[6].endpoint", "is required"));
}

TEST_F(ReferencesTest, EndpointFormsThatAreAccepted) {
  const Config config = parse(catalog_yaml() + R"(
  - {id: a, region: india, endpoint: "https://node-1.internal:8443/", models: [llama]}
  - {id: b, region: india, endpoint: "http://[fd00::5]:8000", models: [llama]}
)");
  EXPECT_EQ(config.nodes[1].endpoint, "https://node-1.internal:8443");  // trailing "/" dropped
  EXPECT_EQ(config.nodes[2].endpoint, "http://[fd00::5]:8000");
}

TEST_F(ReferencesTest, BootstrapMustReferenceTheCatalog) {
  const auto issues = issues_of(catalog_yaml() + R"(
bootstrap: {enabled: true, environment: dev, region: mars, models: [llama, nope]}
)");
  EXPECT_TRUE(has_issue(issues, "bootstrap.region", "unknown region \"mars\""));
  EXPECT_TRUE(has_issue(issues, "bootstrap.models[1]", "unknown model \"nope\""));
}

TEST_F(ReferencesTest, BootstrapEnvironmentFromTheList) {
  EXPECT_TRUE(has_issue(issues_of(catalog_yaml() + "bootstrap: {environment: qa}\n"),
                        "bootstrap.environment", "expected one of dev, staging, prod, got \"qa\""));
}

TEST_F(ReferencesTest, DisabledBootstrapIsNotCrossChecked) {
  // The header default region "india" need not exist when bootstrap is off.
  const Config config = parse(minimal_yaml() + "bootstrap: {enabled: false, region: mars}\n");
  EXPECT_FALSE(config.bootstrap.enabled);
}

TEST_F(ReferencesTest, EnabledBootstrapChecksItsFields) {
  const auto issues = issues_of(catalog_yaml() +
                                "bootstrap: {enabled: yes, org: \"\", email: nobody, plan: \"\"}\n");
  EXPECT_TRUE(has_issue(issues, "bootstrap.org", "must be a name"));
  EXPECT_TRUE(has_issue(issues, "bootstrap.email", "e-mail"));
  EXPECT_TRUE(has_issue(issues, "bootstrap.plan", "must not be empty"));
}

TEST_F(ReferencesTest, DefaultMaxTokensWithinContext) {
  EXPECT_TRUE(has_issue(
      issues_of(minimal_yaml() + "models: [{id: m, context_length: 100, default_max_tokens: 200}]\n"),
      "models[0].default_max_tokens", "must not exceed context_length (100)"));
}

}  // namespace
}  // namespace cic::config::test
