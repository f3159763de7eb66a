#include "cri/runtime/container_cdi.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace cradle {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

runtime::v1::ContainerConfig Config(std::vector<std::string> devices) {
  runtime::v1::ContainerConfig c;
  c.mutable_metadata()->set_name("app");
  for (const std::string& d : devices) c.add_cdi_devices()->set_name(d);
  return c;
}

TEST(CdiDeviceNamesTest, FieldThenAnnotationsEachOnce) {
  runtime::v1::ContainerConfig c = Config({"a.com/x=0", "a.com/x=1"});
  auto& annotations = *c.mutable_annotations();
  annotations["cdi.k8s.io/vendor.b"] = "b.com/y=0, a.com/x=1";
  annotations["cdi.k8s.io/a"] = "a.com/x=2";
  annotations["other.io/cdi"] = "not even a name";
  absl::StatusOr<std::vector<std::string>> names = CdiDeviceNames(c);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names,
              ElementsAre("a.com/x=0", "a.com/x=1", "a.com/x=2", "b.com/y=0"));
  EXPECT_THAT(*CdiDeviceNames(Config({})), IsEmpty());
}

TEST(CdiDeviceNamesTest, AnAnnotationWithABadNameIsInvalidArgument) {
  runtime::v1::ContainerConfig c = Config({});
  (*c.mutable_annotations())["cdi.k8s.io/gpu"] = "a.com/x=0,gpu1";
  absl::Status s = CdiDeviceNames(c).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("annotation cdi.k8s.io/gpu"));
  EXPECT_THAT(s.message(), HasSubstr("\"gpu1\""));
}

TEST(ApplyCdiDevicesTest, ResolvesAgainstTheDirsOrSaysWhy) {
  char tmpl[] = "/tmp/container-cdi-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::ofstream(dir + "/t.json") << R"({"cdiVersion": "0.5.0",
      "kind": "vendor.example/test", "devices": [{"name": "dev0",
      "containerEdits": {"env": ["CDI_TEST=1"],
      "deviceNodes": [{"path": "/dev/cdi-null", "hostPath": "/dev/null"}]}}]})";
  spec::ContainerSpecInput in;
  absl::Status s =
      ApplyCdiDevices(Config({"vendor.example/test=dev0"}), {dir}, "c1", &in);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(in.env, ElementsAre("CDI_TEST=1"));
  ASSERT_EQ(in.devices.size(), 1u);
  EXPECT_EQ(in.devices[0].major, 1);

  spec::ContainerSpecInput untouched;
  s = ApplyCdiDevices(Config({"vendor.example/test=nope"}), {dir}, "c2",
                      &untouched);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("vendor.example/test=nope"));
  EXPECT_THAT(s.message(), HasSubstr(dir));
  EXPECT_TRUE(untouched.env.empty());
  s = ApplyCdiDevices(Config({"dev0"}), {dir}, "c3", &untouched);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  // Asking for nothing needs no spec dir at all.
  EXPECT_TRUE(ApplyCdiDevices(Config({}), {}, "c4", &untouched).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cradle
