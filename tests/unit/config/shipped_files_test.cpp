// The shipped config files must load: cic.example.yaml is the documented reference and dev.yaml
// drives `make run`, so a broken key in either is a release blocker.
#include "config_test_support.hpp"

namespace cic::config::test {
namespace {

class ShippedFilesTest : public ConfigTest {};

TEST_F(ShippedFilesTest, ExampleLoadsWithSecretsFromTheEnvironment) {
  fake_vars()["CIC_KEY_HASH_SECRET"] = kSecret;
  fake_vars()["CIC_POSTGRES_DSN"] = "postgresql://cic@db.internal:5432/cic";
  fake_vars()["CIC_ADMIN_TOKEN"] = "operator-token-0123456789abcdef";
  const Config config = load_config(source_dir() + "/config/cic.example.yaml", fake_env);
  EXPECT_EQ(config.limits.backend, LimitsConfig::Backend::kRedis);
  EXPECT_EQ(config.find_model("llama-3.1-8b-instruct")->output_micros_per_million, 300'000);

  EXPECT_EQ(config.server.listen.host, "0.0.0.0");
  EXPECT_EQ(config.server.listen.port, 8080);
  EXPECT_FALSE(config.server.tls.enabled());
  EXPECT_EQ(config.server.limits.max_body_bytes, 4u * 1024 * 1024);
  EXPECT_EQ(config.server.limits.read_timeout, std::chrono::milliseconds(30'000));
  EXPECT_EQ(config.admin.listen.port, 9090);
  EXPECT_EQ(config.admin.operator_token, "operator-token-0123456789abcdef");
  ASSERT_EQ(config.plans.size(), 3u);
  EXPECT_EQ(config.find_plan("free")->monthly_free_tokens, 100'000);
  EXPECT_EQ(config.find_plan("free")->monthly_token_quota, 100'000);
  EXPECT_EQ(config.find_plan("pro")->monthly_token_quota, 0);
  EXPECT_EQ(config.find_plan("pro")->max_limits.rpm, 6'000);
  EXPECT_EQ(config.find_plan("enterprise")->max_limits.tpm, 0);
  EXPECT_EQ(config.store.backend, StoreConfig::Backend::kPostgres);
  EXPECT_EQ(config.store.postgres.dsn, "postgresql://cic@db.internal:5432/cic");
  EXPECT_EQ(config.auth.key_hash_secret, kSecret);
  EXPECT_EQ(config.upstream.max_attempts, 3u);
  EXPECT_FALSE(config.bootstrap.enabled);
  EXPECT_EQ(config.logging.format, "json");

  ASSERT_EQ(config.regions.size(), 4u);
  for (const char* name : {"india", "usa", "europe", "apac"}) {
    const RegionConfig* region = config.find_region(name);
    ASSERT_NE(region, nullptr) << name;
    EXPECT_EQ(region->fallback.size(), 3u) << name;
  }
  EXPECT_EQ(config.find_region("india")->fallback.front(), "apac");
  EXPECT_EQ(config.find_region("usa")->fallback.front(), "europe");
  ASSERT_EQ(config.models.size(), 3u);
  EXPECT_EQ(config.find_model("bge-small-en-v1.5")->kind, ModelConfig::Kind::kEmbedding);
  ASSERT_FALSE(config.nodes.empty());
  EXPECT_TRUE(config.nodes.front().endpoint.rfind("http://", 0) == 0);
}

TEST_F(ShippedFilesTest, ExampleWithoutItsVariablesNamesThem) {
  try {
    load_config(source_dir() + "/config/cic.example.yaml", fake_env);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(has_issue(e.issues(), "store.postgres.dsn", "CIC_POSTGRES_DSN"));
    EXPECT_TRUE(has_issue(e.issues(), "auth.key_hash_secret", "CIC_KEY_HASH_SECRET"));
    EXPECT_TRUE(has_issue(e.issues(), "admin.operator_token", "CIC_ADMIN_TOKEN"));
  }
}

TEST_F(ShippedFilesTest, PricesAndLimitsSection) {
  const Config config = parse_config(
      minimal_yaml() + "models:\n  - {id: m, price: {input_per_million_usd: 0.10, output_per_million_usd: 0.3}}\n"
                       "  - {id: free}\nlimits: {backend: redis, redis: {url: \"redis://127.0.0.1:6379\", timeout_ms: 20}, replicas: 3}\n",
      "inline.yaml", fake_env);
  const ModelConfig* m = config.find_model("m");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->input_micros_per_million, 100'000);
  EXPECT_EQ(m->output_micros_per_million, 300'000);
  EXPECT_EQ(m->cached_input_micros_per_million, 100'000);
  EXPECT_FALSE(config.find_model("free")->priced());
  EXPECT_EQ(config.limits.backend, LimitsConfig::Backend::kRedis);
  EXPECT_EQ(config.limits.redis_timeout, std::chrono::milliseconds(20));
  EXPECT_EQ(config.limits.replicas, 3u);
  try {
    parse_config(minimal_yaml() + "models:\n  - {id: m, price: {input_per_million_usd: 1}}\nlimits: {backend: redis}\n",
                 "inline.yaml", fake_env);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(has_issue(e.issues(), "models[0].price", "both"));
    EXPECT_TRUE(has_issue(e.issues(), "limits.redis.url", "redis://"));
  }
}

TEST_F(ShippedFilesTest, PlansAreBuiltInWhenAbsentAndValidated) {
  const Config builtin = parse_config(minimal_yaml(), "inline.yaml", fake_env);
  ASSERT_NE(builtin.find_plan("free"), nullptr);
  EXPECT_EQ(builtin.find_plan("free")->default_limits.rpm, 60);
  EXPECT_EQ(builtin.find_plan("free")->monthly_free_tokens, 100'000);
  EXPECT_EQ(builtin.find_plan("free")->monthly_token_quota, 100'000);
  ASSERT_NE(builtin.find_plan("enterprise"), nullptr);
  EXPECT_EQ(builtin.find_plan("enterprise")->monthly_token_quota, 0);
  // The allowance and the cap are separate: a plan may include tokens and bill beyond them.
  const Config developer = parse_config(
      minimal_yaml() + "plans:\n  - {name: developer, monthly_free_tokens: 10000000}\n"
                       "  - {name: capped, monthly_free_tokens: 5, monthly_token_quota: 7}\n",
      "inline.yaml", fake_env);
  EXPECT_EQ(developer.find_plan("developer")->monthly_free_tokens, 10'000'000);
  EXPECT_EQ(developer.find_plan("developer")->monthly_token_quota, 0);
  EXPECT_EQ(developer.find_plan("capped")->monthly_token_quota, 7);
  try {
    parse_config(minimal_yaml() + "plans:\n  - {name: gold, max_limits: {rpm: -1}, monthly_token_quota: -1}\n  - {name: gold}\n"
                 "admin: {operator_token: short}\n",
                 "inline.yaml", fake_env);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(has_issue(e.issues(), "plans[0].max_limits.rpm", ""));
    EXPECT_TRUE(has_issue(e.issues(), "plans[0].monthly_token_quota", ""));
    EXPECT_TRUE(has_issue(e.issues(), "plans[1].name", "gold"));
    EXPECT_TRUE(has_issue(e.issues(), "admin.operator_token", "24 characters"));
  }
}

TEST_F(ShippedFilesTest, DevConfigMatchesMakeRun) {
  const Config config = load_config(source_dir() + "/config/dev.yaml", fake_env);

  EXPECT_EQ(config.source_file, source_dir() + "/config/dev.yaml");
  EXPECT_EQ(config.server.listen.host, "127.0.0.1");
  EXPECT_EQ(config.server.listen.port, 8080);
  EXPECT_EQ(config.server.threads, 2u);
  EXPECT_EQ(config.admin.listen.port, 9090);
  EXPECT_EQ(config.store.backend, StoreConfig::Backend::kSqlite);
  EXPECT_EQ(config.store.sqlite.path, "var/cic.db");
  EXPECT_EQ(config.auth.key_hash_secret, "dev-only-insecure-key-hash-secret-0123456789");

  ASSERT_EQ(config.regions.size(), 4u);
  EXPECT_EQ(config.find_region("india")->fallback, std::vector<std::string>{"apac"});
  EXPECT_EQ(config.find_region("usa")->fallback, std::vector<std::string>{"europe"});
  EXPECT_EQ(config.find_region("europe")->fallback, std::vector<std::string>{"usa"});
  EXPECT_EQ(config.find_region("apac")->fallback, std::vector<std::string>{"india"});
  EXPECT_FALSE(config.find_region("apac")->display_name.empty());

  ASSERT_EQ(config.models.size(), 3u);
  const ModelConfig* llama = config.find_model("llama-3.1-8b-instruct");
  ASSERT_NE(llama, nullptr);
  EXPECT_EQ(llama->family, "llama");
  EXPECT_EQ(llama->kind, ModelConfig::Kind::kChat);
  EXPECT_EQ(llama->context_length, 8192);
  EXPECT_EQ(config.find_model("mistral-7b-instruct")->family, "mistral");
  const ModelConfig* bge = config.find_model("bge-small-en-v1.5");
  ASSERT_NE(bge, nullptr);
  EXPECT_EQ(bge->kind, ModelConfig::Kind::kEmbedding);
  EXPECT_EQ(bge->context_length, 512);

  ASSERT_EQ(config.nodes.size(), 3u);
  EXPECT_EQ(config.nodes[0].id, "sim-llama-1");
  EXPECT_EQ(config.nodes[0].endpoint, "http://127.0.0.1:18101");
  EXPECT_EQ(config.nodes[0].models, std::vector<std::string>{"llama-3.1-8b-instruct"});
  EXPECT_EQ(config.nodes[1].endpoint, "http://127.0.0.1:18102");
  EXPECT_EQ(config.nodes[2].endpoint, "http://127.0.0.1:18103");
  for (const auto& node : config.nodes) {
    EXPECT_EQ(node.region, "india");
    EXPECT_EQ(node.provider, "local");
  }

  EXPECT_TRUE(config.bootstrap.enabled);
  EXPECT_EQ(config.bootstrap.org, "demo");
  EXPECT_EQ(config.bootstrap.email, "demo@example.com");
  EXPECT_EQ(config.bootstrap.plan, "demo");
  ASSERT_NE(config.find_plan("demo"), nullptr);
  EXPECT_EQ(config.find_plan("demo")->default_limits.rpm, 0) << "the demo key must never meet a rate limit";
  EXPECT_EQ(config.bootstrap.environment, "dev");
  EXPECT_EQ(config.bootstrap.region, "india");
  EXPECT_EQ(config.bootstrap.models.size(), 3u);
  EXPECT_EQ(config.bootstrap.api_key_file, "var/dev-api-key");
  EXPECT_EQ(config.logging.level, "info");
  EXPECT_EQ(config.logging.format, "text");
}

TEST_F(ShippedFilesTest, DevConfigTakesTheSecretFromTheEnvironmentWhenSet) {
  fake_vars()["CIC_KEY_HASH_SECRET"] = kSecret;
  const Config config = load_config(source_dir() + "/config/dev.yaml", fake_env);
  EXPECT_EQ(config.auth.key_hash_secret, kSecret);
}

TEST_F(ShippedFilesTest, MissingFileNamesTheFile) {
  const std::string path = source_dir() + "/config/does-not-exist.yaml";
  try {
    load_config(path, fake_env);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.issues().size(), 1u);
    EXPECT_EQ(e.issues()[0].file, path);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(e.issues()[0].reason.find("No such file"), std::string::npos);
  }
}

TEST_F(ShippedFilesTest, LookupsAndKindNames) {
  const Config config = parse(catalog_yaml());
  EXPECT_EQ(config.find_model("nope"), nullptr);
  EXPECT_EQ(config.find_region("nope"), nullptr);
  EXPECT_EQ(config.find_region("apac")->display_name, "apac");  // defaults to the name
  EXPECT_STREQ(to_string(ModelConfig::Kind::kChat), "chat");
  EXPECT_STREQ(to_string(ModelConfig::Kind::kCompletion), "completion");
  EXPECT_STREQ(to_string(ModelConfig::Kind::kEmbedding), "embedding");
}

TEST_F(ShippedFilesTest, MinimalConfigKeepsHeaderDefaults) {
  const Config config = parse(minimal_yaml());
  const Config defaults;
  EXPECT_EQ(config.server.listen.port, defaults.server.listen.port);
  EXPECT_EQ(config.server.limits.idle_timeout, defaults.server.limits.idle_timeout);
  EXPECT_EQ(config.upstream.request_timeout, defaults.upstream.request_timeout);
  EXPECT_EQ(config.store.backend, StoreConfig::Backend::kSqlite);
  EXPECT_EQ(config.logging.format, "json");
  EXPECT_TRUE(config.regions.empty());
}

}  // namespace
}  // namespace cic::config::test
