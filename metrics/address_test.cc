#include "metrics/address.h"

#include <netinet/in.h>

#include "gtest/gtest.h"

namespace cradle::metrics {
namespace {

TEST(ParseListenAddress, AcceptsIpv4Ipv6AndLocalhost) {
  auto v4 = ParseListenAddress("127.0.0.1:1338");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->addr.ss_family, AF_INET);
  EXPECT_EQ(v4->port, 1338);
  EXPECT_EQ(v4->host, "127.0.0.1");

  auto v6 = ParseListenAddress("[::1]:9100");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->addr.ss_family, AF_INET6);
  EXPECT_EQ(v6->host, "::1");

  auto local = ParseListenAddress("localhost:65535");
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->addr.ss_family, AF_INET);
  EXPECT_EQ(local->port, 65535);

  EXPECT_TRUE(ParseListenAddress("0.0.0.0:1").ok());
}

TEST(ParseListenAddress, RefusesBadValues) {
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", ":1338", "127.0.0.1:0",
        "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:12a",
        "127.0.0.1:000001338", "::1:1338", "[::1]", "[127.0.0.1]:80", "[]:80",
        "example.com:80", "256.0.0.1:80", "[localhost]:80"}) {
    auto parsed = ParseListenAddress(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace cradle::metrics
