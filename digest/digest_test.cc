#include "digest/digest.h"

#include <gtest/gtest.h>

namespace cradle {
namespace {

constexpr char kEmpty[] =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(DigestTest, HashesKnownVectors) {
  EXPECT_EQ(Digest::OfBytes("").ToString(), kEmpty);
  EXPECT_EQ(Digest::OfBytes("abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, StreamingMatchesOneShotAndCanContinue) {
  Sha256Hasher hasher;
  hasher.Update("a");
  EXPECT_EQ(hasher.Current(), Digest::OfBytes("a"));
  hasher.Update("bc");
  EXPECT_EQ(hasher.Current(), Digest::OfBytes("abc"));
}

TEST(DigestTest, ParseRoundTrips) {
  absl::StatusOr<Digest> d = Digest::Parse(kEmpty);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->ToString(), kEmpty);
  EXPECT_EQ(d->algorithm(), "sha256");
}

TEST(DigestTest, ParseRejectsMalformed) {
  for (const char* bad :
       {"", "sha256",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "md5:e3b0c44298fc1c149afbf4c8996fb924",
        "sha256:"
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "sha256:e3b0", "sha256:../../../../etc/passwd"}) {
    absl::StatusOr<Digest> d = Digest::Parse(bad);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace cradle
