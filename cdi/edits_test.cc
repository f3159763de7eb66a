#include "cdi/edits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace cradle::cdi {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

DeviceNode Node(const std::string& path, const std::string& host = "") {
  DeviceNode n;
  n.path = path;
  n.host_path = host;
  return n;
}

TEST(ApplyEditsTest, EnvReplacesTheSameKey) {
  spec::ContainerSpecInput in;
  in.env = {"A=1", "B=2"};
  ContainerEdits e;
  e.env = {"B=3", "C=4", "A=5=6"};
  ASSERT_TRUE(ApplyEdits(e, &in).ok());
  EXPECT_THAT(in.env, ElementsAre("A=5=6", "B=3", "C=4"));
}

TEST(ApplyEditsTest, DeviceNodeTakesWhatIsMissingFromTheHost) {
  spec::ContainerSpecInput in;
  ContainerEdits e;
  e.device_nodes = {Node("/dev/cdi-null", "/dev/null"), Node("/dev/zero")};
  ASSERT_TRUE(ApplyEdits(e, &in).ok());
  ASSERT_EQ(in.devices.size(), 2u);
  EXPECT_EQ(in.devices[0].path, "/dev/cdi-null");
  EXPECT_EQ(in.devices[0].type, 'c');
  EXPECT_EQ(in.devices[0].major, 1);
  EXPECT_EQ(in.devices[0].minor, 3);
  EXPECT_EQ(in.devices[0].permissions, "rwm");
  EXPECT_EQ(in.devices[1].path, "/dev/zero");
  EXPECT_EQ(in.devices[1].minor, 5);
}

TEST(ApplyEditsTest, AFullyDescribedNodeIsNotLookedUp) {
  spec::ContainerSpecInput in;
  DeviceNode n = Node("/dev/gpu0", "/nonexistent/gpu0");
  n.type = "u";  // unbuffered char: a char device to mknod and the cgroup
  n.major = 195;
  n.minor = 7;
  n.file_mode = 0660;
  n.permissions = "rw";
  n.uid = 0;
  ContainerEdits e;
  e.device_nodes = {n};
  in.user.uid = 1000;
  in.user.gid = 1001;
  ASSERT_TRUE(ApplyEdits(e, &in).ok());
  ASSERT_EQ(in.devices.size(), 1u);
  const spec::Device& d = in.devices[0];
  EXPECT_EQ(d.type, 'c');
  EXPECT_EQ(d.major, 195);
  EXPECT_EQ(d.minor, 7);
  EXPECT_EQ(d.file_mode, 0660u);
  EXPECT_EQ(d.permissions, "rw");
  EXPECT_EQ(d.uid, 0u);     // as given
  EXPECT_EQ(d.gid, 1001u);  // the container user's
}

TEST(ApplyEditsTest, ANodeReplacesOneAtTheSamePath) {
  spec::ContainerSpecInput in;
  ContainerEdits e;
  e.device_nodes = {Node("/dev/x", "/dev/null")};
  ASSERT_TRUE(ApplyEdits(e, &in).ok());
  e.device_nodes = {Node("/dev/x", "/dev/zero")};
  ASSERT_TRUE(ApplyEdits(e, &in).ok());
  ASSERT_EQ(in.devices.size(), 1u);
  EXPECT_EQ(in.devices[0].minor, 5);
}

TEST(ApplyEditsTest, HostNodeProblemsAreFailedPrecondition) {
  struct Case {
    DeviceNode node;
    const char* error;
  };
  DeviceNode wrong_type = Node("/dev/x", "/dev/null");
  wrong_type.type = "b";
  for (const Case& c :
       {Case{Node("/dev/x", "/nonexistent/dev"),
             "host device /nonexistent/dev: No such file"},
        Case{Node("/dev/x", "/etc/hostname"), "is not a device node"},
        Case{wrong_type, "type \"b\" is given but host"}}) {
    spec::ContainerSpecInput in;
    ContainerEdits e;
    e.device_nodes = {c.node};
    absl::Status s = ApplyEdits(e, &in);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(s.message(), HasSubstr(c.error));
  }
  spec::ContainerSpecInput in;
  ContainerEdits e;
  e.device_nodes = {Node("dev/rel", "/dev/null")};
  EXPECT_EQ(ApplyEdits(e, &in).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ApplyEditsTest, MountsMapOntoBinds) {
  spec::ContainerSpecInput in;
  in.mounts.push_back({"/data", "/old", false});
  ContainerEdits e;
  e.mounts = {
      {"/host/lib", "/usr/lib/x", {"ro", "nosuid", "nodev", "bind"}, "bind"},
      {"/host/data", "/data/", {"rshared", "rw"}, ""}};
  ASSERT_TRUE(ApplyEdits(e, &in).ok());
  ASSERT_EQ(in.mounts.size(), 2u);
  EXPECT_EQ(in.mounts[0].host_path, "/host/lib");
  EXPECT_EQ(in.mounts[0].container_path, "/usr/lib/x");
  EXPECT_TRUE(in.mounts[0].readonly);
  EXPECT_EQ(in.mounts[0].propagation, "private");
  EXPECT_THAT(in.mounts[0].flags, ElementsAre("nosuid", "nodev"));
  // Replaces the mount at the same (cleaned) path.
  EXPECT_EQ(in.mounts[1].host_path, "/host/data");
  EXPECT_FALSE(in.mounts[1].readonly);
  EXPECT_EQ(in.mounts[1].propagation, "rshared");
}

TEST(ApplyEditsTest, MountsThatAreNotBindsAreRefused) {
  for (const Mount& m :
       {Mount{"tmpfs", "/x", {}, "tmpfs"}, Mount{"/a", "/x", {"size=1m"}, ""},
        Mount{"/a", "x", {}, ""}}) {
    spec::ContainerSpecInput in;
    ContainerEdits e;
    e.mounts = {m};
    absl::Status s = ApplyEdits(e, &in);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr("CDI mount of " + m.host_path));
  }
}

TEST(ApplyEditsTest, HooksAndGroups) {
  spec::ContainerSpecInput in;
  in.user.additional_gids = {10};
  ContainerEdits e;
  e.hooks = {{"createContainer", "/bin/hook", {"hook", "a"}, {"X=1"}, 3},
             {"poststop", "/bin/other", {}, {}, std::nullopt},
             {"createContainer", "/bin/hook2", {}, {}, std::nullopt}};
  e.additional_gids = {0, 10, 44, 44};
  ASSERT_TRUE(ApplyEdits(e, &in).ok());
  ASSERT_EQ(in.hooks["createContainer"].size(), 2u);
  EXPECT_EQ(in.hooks["createContainer"][0].path, "/bin/hook");
  EXPECT_THAT(in.hooks["createContainer"][0].args, ElementsAre("hook", "a"));
  EXPECT_THAT(in.hooks["createContainer"][0].env, ElementsAre("X=1"));
  EXPECT_EQ(in.hooks["createContainer"][0].timeout, 3);
  EXPECT_EQ(in.hooks["createContainer"][1].path, "/bin/hook2");
  ASSERT_EQ(in.hooks["poststop"].size(), 1u);
  EXPECT_FALSE(in.hooks["poststop"][0].timeout.has_value());
  EXPECT_THAT(in.user.additional_gids, ElementsAre(10u, 44u));
}

TEST(ApplyEditsTest, UnmappableEditsAreIgnored) {
  spec::ContainerSpecInput in;
  ContainerEdits e;
  e.has_intel_rdt = true;
  e.has_net_devices = true;
  EXPECT_TRUE(ApplyEdits(e, &in).ok());
}

class InjectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cdi-inject-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/v.yaml") << R"(
cdiVersion: 0.6.0
kind: vendor.example/test
containerEdits:
  env: [FROM_SPEC=1]
devices:
  - name: good
    containerEdits:
      deviceNodes: [{path: /dev/cdi-null, hostPath: /dev/null}]
  - name: broken
    containerEdits:
      env: [BROKEN=1]
      deviceNodes: [{path: /dev/cdi-gone, hostPath: /nonexistent/dev}]
)";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(InjectTest, AppliesTheSpecAndDeviceEdits) {
  spec::ContainerSpecInput in;
  ASSERT_TRUE(Inject({dir_}, {"vendor.example/test=good"}, &in).ok());
  EXPECT_THAT(in.env, ElementsAre("FROM_SPEC=1"));
  ASSERT_EQ(in.devices.size(), 1u);
  EXPECT_EQ(in.devices[0].path, "/dev/cdi-null");
}

TEST_F(InjectTest, LeavesTheInputAloneOnError) {
  spec::ContainerSpecInput in;
  in.env = {"KEEP=1"};
  absl::Status s = Inject(
      {dir_}, {"vendor.example/test=good", "vendor.example/test=broken"}, &in);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("vendor.example/test=broken"));
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent/dev"));
  EXPECT_THAT(in.env, ElementsAre("KEEP=1"));
  EXPECT_TRUE(in.devices.empty());

  s = Inject({dir_}, {"vendor.example/test=nope"}, &in);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("vendor.example/test=nope"));
  EXPECT_THAT(s.message(), HasSubstr(dir_));
}

TEST_F(InjectTest, NoNamesNeedsNoSpecs) {
  spec::ContainerSpecInput in;
  EXPECT_TRUE(Inject({"/nonexistent"}, {}, &in).ok());
}

}  // namespace
}  // namespace cradle::cdi
