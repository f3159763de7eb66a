#include "oci/user.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cradle::oci {
namespace {

using ::testing::HasSubstr;

TEST(ParseIdTest, OnlyPlainDecimalInRange) {
  EXPECT_EQ(ParseId("0"), 0u);
  EXPECT_EQ(ParseId("1000"), 1000u);
  EXPECT_EQ(ParseId("007"), 7u);
  EXPECT_EQ(ParseId("4294967294"), 4294967294u);
  for (const char* bad : {"", "-1", "+5", "0x10", " 7", "7 ", "4294967295",
                          "99999999999", "00000000001", "1e3", "1.0", "٣"}) {
    EXPECT_EQ(ParseId(bad), std::nullopt) << "\"" << bad << "\"";
  }
}

TEST(IsValidNameTest, UseraddNames) {
  for (const char* good :
       {"app", "_apt", "www-data", "a.b", "0x10", "HOST$", "u1000"}) {
    EXPECT_TRUE(IsValidName(good)) << good;
  }
  for (const char* bad : {"", "-1", "+5", " 7", "1000", ".", "..", "a b", "a:b",
                          "a/b", "$", "root\n", "x$y"}) {
    EXPECT_FALSE(IsValidName(bad)) << "\"" << bad << "\"";
  }
  EXPECT_TRUE(IsValidName(std::string(256, 'a')));
  EXPECT_FALSE(IsValidName(std::string(257, 'a')));
}

TEST(ParseUserSpecTest, IdsNamesAndGroups) {
  absl::StatusOr<UserSpec> s = ParseUserSpec("1000:1000");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->uid, 1000u);
  EXPECT_EQ(s->gid, 1000u);
  EXPECT_TRUE(s->name.empty());

  s = ParseUserSpec("app:staff");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->uid, std::nullopt);
  EXPECT_EQ(s->name, "app");
  EXPECT_EQ(s->group, "staff");

  s = ParseUserSpec("");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->uid, 0u);  // no user: root
  EXPECT_EQ(s->gid, std::nullopt);

  s = ParseUserSpec(":5");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->uid, 0u);
  EXPECT_EQ(s->gid, 5u);

  s = ParseUserSpec("1000:");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->gid, std::nullopt);
}

TEST(ParseUserSpecTest, NeitherIdNorNameIsRefused) {
  for (const char* bad : {"-1", "4294967295", "+5", " 7", "-1:0", "0:-1",
                          "1000:4294967295", "ro ot", "a:b:c"}) {
    absl::Status s = ParseUserSpec(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ParseUserSpec("-1").status().message(),
              HasSubstr("neither an id"));
}

TEST(ReportImageUserTest, UidOnlyForANumericUser) {
  EXPECT_EQ(ReportImageUser("1000").uid, 1000);
  EXPECT_EQ(ReportImageUser("1000:1000").uid, 1000);
  EXPECT_EQ(ReportImageUser("0").uid, 0);
  EXPECT_EQ(ReportImageUser(":5").uid, 0);

  // The bypass: the kubelet must never be told a non-root uid the
  // container does not run as.
  for (const char* text :
       {"-1", "4294967295", "+5", "0x10", " 7", "app", "app:staff", "-1:0"}) {
    ReportedUser r = ReportImageUser(text);
    EXPECT_EQ(r.uid, std::nullopt) << text;
    EXPECT_FALSE(r.username.empty()) << text;
  }
  EXPECT_EQ(ReportImageUser("app:staff").username, "app");
  EXPECT_EQ(ReportImageUser("-1").username, "-1");

  ReportedUser none = ReportImageUser("");
  EXPECT_EQ(none.uid, std::nullopt);
  EXPECT_TRUE(none.username.empty());
}

}  // namespace
}  // namespace cradle::oci
