#include "reference/reference.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cradle {
namespace {

constexpr char kHex[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string Normalized(const std::string& text) {
  absl::StatusOr<ImageReference> ref = ImageReference::Parse(text);
  EXPECT_TRUE(ref.ok()) << text << ": " << ref.status();
  return ref.ok() ? ref->String() : "";
}

TEST(ReferenceTest, NormalisesDockerHubNames) {
  EXPECT_EQ(Normalized("busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(Normalized("busybox:1.36"), "docker.io/library/busybox:1.36");
  EXPECT_EQ(Normalized("user/app"), "docker.io/user/app:latest");
  EXPECT_EQ(Normalized("docker.io/busybox"),
            "docker.io/library/busybox:latest");
  EXPECT_EQ(Normalized("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest");
}

TEST(ReferenceTest, KeepsOtherRegistries) {
  absl::StatusOr<ImageReference> ref =
      ImageReference::Parse("127.0.0.1:5000/pause:3.9");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->domain(), "127.0.0.1:5000");
  EXPECT_EQ(ref->path(), "pause");
  EXPECT_EQ(ref->tag(), "3.9");
  EXPECT_EQ(ref->Object(), "3.9");
  EXPECT_EQ(Normalized("registry.k8s.io/e2e-test-images/nginx:1.14-2"),
            "registry.k8s.io/e2e-test-images/nginx:1.14-2");
  EXPECT_EQ(Normalized("localhost/app"), "localhost/app:latest");
  EXPECT_EQ(Normalized("localhost:5000/a/b/c"), "localhost:5000/a/b/c:latest");
}

TEST(ReferenceTest, Digests) {
  absl::StatusOr<ImageReference> ref =
      ImageReference::Parse(std::string("busybox@sha256:") + kHex);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_TRUE(ref->tag().empty());
  EXPECT_EQ(ref->Object(), std::string("sha256:") + kHex);
  EXPECT_EQ(ref->String(),
            std::string("docker.io/library/busybox@sha256:") + kHex);
  EXPECT_EQ(Normalized(std::string("gcr.io/a/b:v1@sha256:") + kHex),
            std::string("gcr.io/a/b:v1@sha256:") + kHex);
}

TEST(ReferenceTest, RejectsMalformed) {
  for (const char* bad : {"", ":tag", "Busybox", "busybox:",
                          "busybox@sha256:abc", "busybox:bad/tag", "a//b", "-a",
                          "a..b", "host:port/x", "busybox@md5:abc", "a b"}) {
    absl::StatusOr<ImageReference> ref = ImageReference::Parse(bad);
    EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  // An IPv6 host is hex, ':' and '.' in brackets, then an optional port:
  // nothing else may reach the URL's authority.
  EXPECT_EQ(Normalized("[::1]:5000/app"), "[::1]:5000/app:latest");
  EXPECT_EQ(Normalized("[fe80::1]/app:v1"), "[fe80::1]/app:v1");
  for (const char* bad : {"[]/app", "[evil.example#]/app", "[::1]x/app",
                          "[::1]:/app", "[a?b]/app", "[::1]:50x/app"}) {
    EXPECT_EQ(ImageReference::Parse(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_THAT(ImageReference::Parse("Busybox").status().message(),
              ::testing::HasSubstr("\"Busybox\""));
}

}  // namespace
}  // namespace cradle
