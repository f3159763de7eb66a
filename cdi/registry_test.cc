#include "cdi/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace cradle::cdi {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A spec of kind `kind` with one device per name, each setting
// "<name>=<value>" in the env, and a spec-level "SPEC=<kind>".
std::string SpecJson(const std::string& kind,
                     const std::vector<std::string>& devices,
                     const std::string& value) {
  std::string out = R"({"cdiVersion": "0.6.0", "kind": ")" + kind +
                    R"(", "containerEdits": {"env": ["SPEC=)" + kind +
                    R"("]}, "devices": [)";
  for (size_t i = 0; i < devices.size(); ++i) {
    if (i) out += ", ";
    out += R"({"name": ")" + devices[i] + R"(", "containerEdits": {"env": [")" +
           devices[i] + "=" + value + R"("]}})";
  }
  return out + "]}";
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cdi-registry-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    low_ = root_ + "/etc-cdi";
    high_ = root_ + "/run-cdi";
    fs::create_directories(low_);
    fs::create_directories(high_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  std::vector<std::string> Env(const Registry& r,
                               const std::vector<std::string>& names) {
    absl::StatusOr<std::vector<ContainerEdits>> edits = r.Resolve(names);
    EXPECT_TRUE(edits.ok()) << edits.status();
    std::vector<std::string> env;
    if (!edits.ok()) return env;
    for (const ContainerEdits& e : *edits)
      env.insert(env.end(), e.env.begin(), e.env.end());
    return env;
  }

  std::string root_, low_, high_;
};

TEST_F(RegistryTest, ReadsJsonAndYamlFiles) {
  Write(low_ + "/a.json", SpecJson("vendor.example/json", {"d0"}, "j"));
  Write(low_ + "/b.yaml",
        "cdiVersion: 0.6.0\nkind: vendor.example/yaml\ndevices:\n"
        "- name: d1\n  containerEdits:\n    env: [d1=y]\n");
  Write(low_ + "/c.yml",
        "cdiVersion: 0.6.0\nkind: vendor.example/yml\ndevices:\n"
        "- name: d2\n  containerEdits:\n    env: [d2=z]\n");
  Write(low_ + "/ignored.txt", "not a spec");
  Registry r = Registry::Load({low_, high_});
  EXPECT_THAT(r.errors(), IsEmpty());
  EXPECT_THAT(r.DeviceNames(),
              ElementsAre("vendor.example/json=d0", "vendor.example/yaml=d1",
                          "vendor.example/yml=d2"));
  EXPECT_THAT(Env(r, {"vendor.example/yaml=d1"}), ElementsAre("d1=y"));
  EXPECT_THAT(Env(r, {"vendor.example/json=d0"}),
              ElementsAre("SPEC=vendor.example/json", "d0=j"));
}

TEST_F(RegistryTest, ALaterDirWins) {
  Write(low_ + "/v.json", SpecJson("vendor.example/c", {"d0", "d1"}, "low"));
  Write(high_ + "/v.json", SpecJson("vendor.example/c", {"d1"}, "high"));
  Registry r = Registry::Load({low_, high_});
  EXPECT_THAT(Env(r, {"vendor.example/c=d1"}),
              ElementsAre("SPEC=vendor.example/c", "d1=high"));
  EXPECT_THAT(Env(r, {"vendor.example/c=d0"}),
              ElementsAre("SPEC=vendor.example/c", "d0=low"));
  // And the order of the dirs is what counts, not their names.
  Registry reversed = Registry::Load({high_, low_});
  EXPECT_THAT(Env(reversed, {"vendor.example/c=d1"}),
              ElementsAre("SPEC=vendor.example/c", "d1=low"));
}

TEST_F(RegistryTest, SpecEditsComeOnceBeforeItsFirstDevice) {
  Write(low_ + "/v.json", SpecJson("vendor.example/c", {"d0", "d1"}, "v"));
  Write(low_ + "/w.json", SpecJson("vendor.example/w", {"e0"}, "w"));
  Registry r = Registry::Load({low_});
  EXPECT_THAT(Env(r, {"vendor.example/c=d1", "vendor.example/w=e0",
                      "vendor.example/c=d0", "vendor.example/c=d1"}),
              ElementsAre("SPEC=vendor.example/c", "d1=v",
                          "SPEC=vendor.example/w", "e0=w", "d0=v"));
}

TEST_F(RegistryTest, ADeviceTwiceInOneDirIsAConflict) {
  Write(low_ + "/a.json", SpecJson("vendor.example/c", {"d0", "ok"}, "a"));
  Write(low_ + "/b.json", SpecJson("vendor.example/c", {"d0"}, "b"));
  Registry r = Registry::Load({low_, high_});
  absl::StatusOr<std::vector<ContainerEdits>> e =
      r.Resolve({"vendor.example/c=d0"});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(e.status().message(), HasSubstr("a.json and "));
  EXPECT_THAT(Env(r, {"vendor.example/c=ok"}),
              ElementsAre("SPEC=vendor.example/c", "ok=a"));
  // A later dir settles it.
  Write(high_ + "/c.json", SpecJson("vendor.example/c", {"d0"}, "c"));
  EXPECT_THAT(Env(Registry::Load({low_, high_}), {"vendor.example/c=d0"}),
              ElementsAre("SPEC=vendor.example/c", "d0=c"));
}

TEST_F(RegistryTest, BadFilesAreSkippedAndNamed) {
  Write(low_ + "/0-garbage.json", "{\"cdiVersion\": ");
  Write(low_ + "/1-bad.yaml", "cdiVersion: [\n");
  Write(low_ + "/2-invalid.json", SpecJson("no-slash", {"d"}, "x"));
  Write(low_ + "/3-good.json", SpecJson("vendor.example/c", {"d0"}, "g"));
  fs::create_directories(low_ + "/4-dir.json");
  Registry r = Registry::Load({low_});
  ASSERT_EQ(r.errors().size(), 3u);
  EXPECT_THAT(r.errors()[0], HasSubstr("0-garbage.json: not valid JSON"));
  EXPECT_THAT(r.errors()[1], HasSubstr("1-bad.yaml: line"));
  EXPECT_THAT(r.errors()[2], HasSubstr("2-invalid.json: kind:"));
  EXPECT_THAT(Env(r, {"vendor.example/c=d0"}),
              ElementsAre("SPEC=vendor.example/c", "d0=g"));
}

TEST_F(RegistryTest, UnknownDeviceIsNotFoundNamingItAndTheDirs) {
  Write(low_ + "/bad.json", "nope");
  Registry r = Registry::Load({low_, root_ + "/missing"});
  absl::StatusOr<std::vector<ContainerEdits>> e =
      r.Resolve({"vendor.example/c=gone"});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(e.status().message(), HasSubstr("vendor.example/c=gone"));
  EXPECT_THAT(e.status().message(),
              HasSubstr(low_ + ", " + root_ + "/missing"));
  EXPECT_THAT(e.status().message(), HasSubstr("bad.json"));
}

TEST_F(RegistryTest, MalformedNameIsInvalidArgument) {
  Registry r = Registry::Load({low_});
  absl::StatusOr<std::vector<ContainerEdits>> e = r.Resolve({"just-a-name"});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("just-a-name"));
}

TEST_F(RegistryTest, NoDirsConfigured) {
  absl::StatusOr<std::vector<ContainerEdits>> e =
      Registry::Load({}).Resolve({"a.b/c=d"});
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("no CDI spec dirs configured"));
}

TEST(DefaultSpecDirsTest, AreTheSpecs) {
  EXPECT_THAT(DefaultSpecDirs(), ElementsAre("/etc/cdi", "/var/run/cdi"));
}

}  // namespace
}  // namespace cradle::cdi
