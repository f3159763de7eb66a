#include "cdi/yaml_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace cradle::cdi {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Convert(const std::string& text) {
  absl::StatusOr<json> j = YamlToJson(text);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : json();
}

TEST(YamlToJsonTest, TypesPlainScalarsAndKeepsQuotedOnesStrings) {
  json j = Convert(
      "dec: 42\nneg: -7\noct: 0666\noct2: 0o17\nhex: 0x1F\nver: 0.6.0\n"
      "quoted: \"42\"\nsingle: '0666'\nnull1: ~\nnull2:\nyes: true\n"
      "word: hello\nbig: 99999999999999999999\n");
  EXPECT_EQ(j["dec"], 42);
  EXPECT_EQ(j["neg"], -7);
  EXPECT_EQ(j["oct"], 0666);
  EXPECT_EQ(j["oct2"], 017);
  EXPECT_EQ(j["hex"], 0x1f);
  EXPECT_EQ(j["ver"], "0.6.0");
  EXPECT_EQ(j["quoted"], "42");
  EXPECT_EQ(j["single"], "0666");
  EXPECT_TRUE(j["null1"].is_null());
  EXPECT_TRUE(j["null2"].is_null());
  EXPECT_EQ(j["yes"], true);
  EXPECT_EQ(j["word"], "hello");
  EXPECT_EQ(j["big"], "99999999999999999999");
}

TEST(YamlToJsonTest, ConvertsNestedCollections) {
  json j = Convert("a:\n  - x: [1, two]\n  - {y: z}\n");
  EXPECT_EQ(j, json::parse(R"({"a": [{"x": [1, "two"]}, {"y": "z"}]})"));
}

TEST(YamlToJsonTest, ReadsJsonAsYaml) {
  json j = Convert(R"({"a": [1, "b"], "c": {"d": null}})");
  EXPECT_EQ(j, json::parse(R"({"a": [1, "b"], "c": {"d": null}})"));
}

TEST(YamlToJsonTest, RefusesDuplicateKeys) {
  absl::StatusOr<json> j = YamlToJson("a: 1\nb: 2\na: 3\n");
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("line 3: duplicate key \"a\""));
}

TEST(YamlToJsonTest, RefusesSyntaxErrorsWithTheLine) {
  absl::StatusOr<json> j = YamlToJson("a: 1\nb: [1, 2\n");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(j.status().message(), HasSubstr("line"));
}

TEST(YamlToJsonTest, BoundsDepth) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  absl::StatusOr<json> j = YamlToJson(deep);
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("nested deeper"));
}

TEST(YamlToJsonTest, BoundsAliasExpansion) {
  // Each level doubles the last: 2^30 nodes once expanded.
  std::string text = "a0: &a0 [x, x]\n";
  for (int i = 1; i <= 30; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" +
            std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + "]\n";
  }
  absl::StatusOr<json> j = YamlToJson(text);
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("nodes"));
}

}  // namespace
}  // namespace cradle::cdi
