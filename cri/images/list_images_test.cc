// ToCriImage: what List/ImageStatus tell the kubelet about an image's user.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cri/images/image_service.h"

namespace cradle {
namespace {

runtime::v1::Image WithUser(const std::string& user) {
  CatalogImage image;
  image.config.user = user;
  runtime::v1::Image out;
  ToCriImage(image, &out);
  return out;
}

TEST(ToCriImageTest, NumericUserIsAUid) {
  runtime::v1::Image i = WithUser("65535:65535");
  ASSERT_TRUE(i.has_uid());
  EXPECT_EQ(i.uid().value(), 65535);
  EXPECT_TRUE(i.username().empty());
}

TEST(ToCriImageTest, NamedUserIsAUsername) {
  runtime::v1::Image i = WithUser("app:staff");
  EXPECT_FALSE(i.has_uid());
  EXPECT_EQ(i.username(), "app");
}

TEST(ToCriImageTest, NoUserSaysNothing) {
  runtime::v1::Image i = WithUser("");
  EXPECT_FALSE(i.has_uid());
  EXPECT_TRUE(i.username().empty());
}

// USER -1 with a passwd line "-1:x:0:0" ran as root while the kubelet was
// told uid -1 (non-root). Nothing that is not a valid uid is reported as one.
TEST(ToCriImageTest, MalformedNumbersAreNeverUids) {
  for (const char* user : {"-1", "4294967295", "+5", "0x10", " 7", "-1:0"}) {
    runtime::v1::Image i = WithUser(user);
    EXPECT_FALSE(i.has_uid()) << user << " reported as uid " << i.uid().value();
    EXPECT_FALSE(i.username().empty()) << user;
  }
}

}  // namespace
}  // namespace cradle
