// Meter event identifiers (deterministic from org, meter, hour and seq) and the form encoding of
// POST /v1/billing/meter_events.
#include <gtest/gtest.h>

#include "cic/stripe/http.hpp"
#include "cic/stripe/meter.hpp"

namespace cic::stripe {
namespace {

constexpr std::int64_t kHour = 1'718'611'200'000;  // 2024-06-17T08:00:00Z

TEST(MeterIdentifierTest, IsDerivedFromOrgMeterAndHour) {
  EXPECT_EQ(meter_identifier("org_3f9a0c1d2b4e5f60", "cic_tokens", kHour), "cic-org_3f9a0c1d2b4e5f60-cic_tokens-1718611200");
  EXPECT_EQ(meter_identifier("org_1", "cic_tokens", kHour, 1), meter_identifier("org_1", "cic_tokens", kHour));
  EXPECT_EQ(meter_identifier("org_1", "cic_tokens", kHour, 2), "cic-org_1-cic_tokens-1718611200-2");
}

TEST(MeterIdentifierTest, AnyTimeInTheHourGivesTheSameIdentifier) {
  EXPECT_EQ(meter_identifier("org_1", "m", kHour + 3'599'999), meter_identifier("org_1", "m", kHour));
  EXPECT_NE(meter_identifier("org_1", "m", kHour + 3'600'000), meter_identifier("org_1", "m", kHour));
}

TEST(MeterIdentifierTest, DiffersByEveryInput) {
  const std::string base = meter_identifier("org_1", "m", kHour);
  EXPECT_NE(meter_identifier("org_2", "m", kHour), base);
  EXPECT_NE(meter_identifier("org_1", "n", kHour), base);
  EXPECT_NE(meter_identifier("org_1", "m", kHour, 2), base);
}

TEST(MeterIdentifierTest, StaysWithinStripesLimitByHashingALongMeterName) {
  const std::string meter(120, 'a');
  const std::string id = meter_identifier("org_3f9a0c1d2b4e5f60", meter, kHour, 12);
  EXPECT_LE(id.size(), kMaxIdentifierChars);
  EXPECT_EQ(id, "cic-org_3f9a0c1d2b4e5f60-2f3d335432c70b58-1718611200-12");
  EXPECT_EQ(id, meter_identifier("org_3f9a0c1d2b4e5f60", meter, kHour, 12));
}

TEST(HourFloorTest, RoundsDownAlsoBefore1970) {
  EXPECT_EQ(hour_floor(kHour + 1), kHour);
  EXPECT_EQ(hour_floor(kHour), kHour);
  EXPECT_EQ(hour_floor(-1), -3'600'000);
  EXPECT_EQ(hour_floor(0), 0);
}

TEST(FormEncodeTest, PercentEncodesBracketsAndReservedBytes) {
  EXPECT_EQ(form_encode({{"payload[value]", "25"}, {"a b", "x&y=z/é"}}),
            "payload%5Bvalue%5D=25&a%20b=x%26y%3Dz%2F%C3%A9");
  EXPECT_EQ(form_encode({}), "");
  EXPECT_EQ(form_encode({{"k", "A-z_0.9~"}}), "k=A-z_0.9~");
}

TEST(FormEncodeTest, MeterEventCarriesEveryField) {
  const MeterEvent e{"cic_tokens", "cus_NciAYcXfLnqBoz", 1234, "cic-org_1-cic_tokens-1718611200", 1'718'611'200};
  EXPECT_EQ(meter_event_form(e),
            "event_name=cic_tokens&payload%5Bstripe_customer_id%5D=cus_NciAYcXfLnqBoz&payload%5Bvalue%5D=1234"
            "&identifier=cic-org_1-cic_tokens-1718611200&timestamp=1718611200");
}

TEST(ParseUrlTest, SplitsSchemeHostPortAndPath) {
  auto u = parse_url("https://api.stripe.com");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "api.stripe.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "");
  EXPECT_FALSE(u->is_loopback());
  u = parse_url("http://127.0.0.1:12111/hooks/cic/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 12111);
  EXPECT_EQ(u->path, "/hooks/cic");
  EXPECT_TRUE(u->is_loopback());
  u = parse_url("http://[::1]:8080");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_TRUE(u->is_loopback());
  for (const char* bad : {"ftp://x", "https://", "https://user@host", "https://h:0", "https://h:99999", "https://h?x=1",
                          "api.stripe.com", "http://[::1"}) {
    EXPECT_FALSE(parse_url(bad)) << bad;
  }
}

}  // namespace
}  // namespace cic::stripe
