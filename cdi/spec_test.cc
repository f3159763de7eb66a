#include "cdi/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace cradle::cdi {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kJson[] = R"({
  "cdiVersion": "0.6.0",
  "kind": "vendor.example/gpu",
  "containerEdits": {"env": ["SPEC_LEVEL=1"]},
  "devices": [{
    "name": "gpu0",
    "containerEdits": {
      "env": ["GPU=0"],
      "deviceNodes": [{"path": "/dev/gpu0", "hostPath": "/dev/nvidia0",
                       "type": "c", "major": 195, "minor": 0,
                       "fileMode": 438, "permissions": "rw",
                       "uid": 1000, "gid": 44}],
      "mounts": [{"hostPath": "/usr/lib/libgpu.so",
                  "containerPath": "/usr/lib/libgpu.so",
                  "options": ["ro", "nosuid", "bind"], "type": "bind"}],
      "hooks": [{"hookName": "createContainer", "path": "/usr/bin/gpu-hook",
                 "args": ["gpu-hook", "update"], "env": ["A=b"],
                 "timeout": 5}],
      "additionalGids": [44, 45]
    }
  }]
})";

constexpr char kYaml[] = R"(
cdiVersion: 0.6.0
kind: vendor.example/gpu
containerEdits:
  env: [SPEC_LEVEL=1]
devices:
  - name: gpu0
    containerEdits:
      env:
        - GPU=0
      deviceNodes:
        - path: /dev/gpu0
          hostPath: /dev/nvidia0
          type: c
          major: 195
          minor: 0
          fileMode: 0666
          permissions: rw
          uid: 1000
          gid: 44
      mounts:
        - hostPath: /usr/lib/libgpu.so
          containerPath: /usr/lib/libgpu.so
          options: [ro, nosuid, bind]
          type: bind
      hooks:
        - hookName: createContainer
          path: /usr/bin/gpu-hook
          args: [gpu-hook, update]
          env: ["A=b"]
          timeout: 5
      additionalGids: [44, 45]
)";

void ExpectFullSpec(const Spec& s) {
  EXPECT_EQ(s.version, "0.6.0");
  EXPECT_EQ(s.kind, "vendor.example/gpu");
  EXPECT_THAT(s.edits.env, ElementsAre("SPEC_LEVEL=1"));
  ASSERT_EQ(s.devices.size(), 1u);
  const Device& d = s.devices[0];
  EXPECT_EQ(d.name, "gpu0");
  EXPECT_THAT(d.edits.env, ElementsAre("GPU=0"));
  ASSERT_EQ(d.edits.device_nodes.size(), 1u);
  const DeviceNode& n = d.edits.device_nodes[0];
  EXPECT_EQ(n.path, "/dev/gpu0");
  EXPECT_EQ(n.host_path, "/dev/nvidia0");
  EXPECT_EQ(n.type, "c");
  EXPECT_EQ(n.major, 195);
  EXPECT_EQ(n.minor, 0);
  EXPECT_EQ(n.file_mode, 0666u);
  EXPECT_EQ(n.permissions, "rw");
  EXPECT_EQ(n.uid, 1000u);
  EXPECT_EQ(n.gid, 44u);
  ASSERT_EQ(d.edits.mounts.size(), 1u);
  EXPECT_EQ(d.edits.mounts[0].host_path, "/usr/lib/libgpu.so");
  EXPECT_EQ(d.edits.mounts[0].container_path, "/usr/lib/libgpu.so");
  EXPECT_THAT(d.edits.mounts[0].options, ElementsAre("ro", "nosuid", "bind"));
  EXPECT_EQ(d.edits.mounts[0].type, "bind");
  ASSERT_EQ(d.edits.hooks.size(), 1u);
  EXPECT_EQ(d.edits.hooks[0].hook_name, "createContainer");
  EXPECT_EQ(d.edits.hooks[0].path, "/usr/bin/gpu-hook");
  EXPECT_THAT(d.edits.hooks[0].args, ElementsAre("gpu-hook", "update"));
  EXPECT_THAT(d.edits.hooks[0].env, ElementsAre("A=b"));
  EXPECT_EQ(d.edits.hooks[0].timeout, 5);
  EXPECT_THAT(d.edits.additional_gids, ElementsAre(44u, 45u));
}

TEST(ParseSpecTest, ReadsEveryFieldOfJson) {
  absl::StatusOr<Spec> s = ParseSpec(kJson, Format::kJson);
  ASSERT_TRUE(s.ok()) << s.status();
  ExpectFullSpec(*s);
}

TEST(ParseSpecTest, ReadsTheSameFromYaml) {
  // fileMode 0666 is octal, as YAML 1.1 (the reference reader) has it.
  absl::StatusOr<Spec> s = ParseSpec(kYaml, Format::kYaml);
  ASSERT_TRUE(s.ok()) << s.status();
  ExpectFullSpec(*s);
}

TEST(ParseSpecTest, OptionalFieldsMayBeLeftOut) {
  absl::StatusOr<Spec> s = ParseSpec(R"({"cdiVersion": "0.3.0",
      "kind": "a.b/c", "devices": [{"name": "0",
      "containerEdits": {"deviceNodes": [{"path": "/dev/null"}]}}]})",
                                     Format::kJson);
  ASSERT_TRUE(s.ok()) << s.status();
  const DeviceNode& n = s->devices[0].edits.device_nodes[0];
  EXPECT_EQ(n.type, "");
  EXPECT_FALSE(n.major.has_value());
  EXPECT_FALSE(n.file_mode.has_value());
  EXPECT_FALSE(n.uid.has_value());
}

TEST(ParseSpecTest, UnquotedYamlNumbersReadAsNamesToo) {
  absl::StatusOr<Spec> s = ParseSpec(
      "cdiVersion: \"0.5.0\"\nkind: a.b/c\ndevices:\n- name: 0\n"
      "  containerEdits: {env: [X=1]}\n",
      Format::kYaml);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->devices[0].name, "0");
}

TEST(ParseSpecTest, NotesEditsItCannotMake) {
  absl::StatusOr<Spec> s = ParseSpec(R"({"cdiVersion": "0.7.0",
      "kind": "a.b/c", "devices": [{"name": "d",
      "containerEdits": {"intelRdt": {"closID": "x"}}}]})",
                                     Format::kJson);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->devices[0].edits.has_intel_rdt);
}

struct BadSpec {
  const char* text;
  const char* error;
};

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, IsRefusedWithWhere) {
  absl::StatusOr<Spec> s = ParseSpec(GetParam().text, Format::kJson);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr(GetParam().error));
}

#define DEV(edits)                                                    \
  R"({"cdiVersion": "0.6.0", "kind": "a.b/c", "devices": [{"name": )" \
  R"("d", "containerEdits": )" edits "}]}"

INSTANTIATE_TEST_SUITE_P(
    Specs, BadSpecTest,
    ::testing::Values(
        BadSpec{"", "not valid JSON"}, BadSpec{"[]", "want an object"},
        BadSpec{R"({"kind": "a.b/c", "devices": []})", "cdiVersion: missing"},
        BadSpec{R"({"cdiVersion": "9.9.9", "kind": "a.b/c"})",
                "\"9.9.9\" is not one of"},
        BadSpec{R"({"cdiVersion": true, "kind": "a.b/c"})",
                "cdiVersion: want a string"},
        BadSpec{R"({"cdiVersion": "0.6.0", "kind": "abc"})",
                "kind: \"abc\" is not vendor.com/class"},
        BadSpec{R"({"cdiVersion": "0.6.0", "kind": "1a.b/c"})",
                "must start with a letter"},
        BadSpec{R"({"cdiVersion": "0.6.0", "kind": "a.b/c/d"})", "holds '/'"},
        BadSpec{R"({"cdiVersion": "0.6.0", "kind": "a.b/c"})",
                "at least one device"},
        BadSpec{R"({"cdiVersion": "0.6.0", "kind": "a.b/c", "devices": {}})",
                "devices: want an array"},
        BadSpec{R"({"cdiVersion": "0.6.0", "kind": "a.b/c",
                    "devices": [{"name": "bad name", "containerEdits":
                    {"env": ["A=1"]}}]})",
                "devices[0].name: device name \"bad name\" holds ' '"},
        BadSpec{R"({"cdiVersion": "0.6.0", "kind": "a.b/c", "devices": [
                  {"name": "d", "containerEdits": {"env": ["A=1"]}},
                  {"name": "d", "containerEdits": {"env": ["A=1"]}}]})",
                "defined twice"},
        BadSpec{DEV("{}"), "at least one edit"},
        BadSpec{DEV(R"({"env": ["NOEQUALS"]})"),
                "containerEdits.env[0]: \"NOEQUALS\" is not KEY=value"},
        BadSpec{DEV(R"({"env": "A=1"})"), "want an array of strings"},
        BadSpec{DEV(R"({"deviceNodes": [{"type": "c"}]})"),
                "deviceNodes[0].path: missing"},
        BadSpec{DEV(R"({"deviceNodes": [{"path": "/dev/x", "type": "x"}]})"),
                "is not one of b, c, u, p"},
        BadSpec{DEV(R"({"deviceNodes": [{"path": "/dev/x", "major": -1}]})"),
                "major: want an integer in [0, "},
        BadSpec{DEV(R"({"deviceNodes": [{"path": "/dev/x", "major": "1"}]})"),
                "major: want an integer"},
        BadSpec{DEV(R"({"deviceNodes": [{"path": "/dev/x", "uid": 1.5}]})"),
                "uid: want an integer"},
        BadSpec{DEV(R"({"deviceNodes": [{"path": "/dev/x",
                        "permissions": "rwx"}]})"),
                "may only hold r, w and m"},
        BadSpec{DEV(R"({"mounts": [{"hostPath": "/a"}]})"),
                "mounts[0].containerPath: missing"},
        BadSpec{DEV(R"({"hooks": [{"hookName": "later", "path": "/x"}]})"),
                "\"later\" is not one of"},
        BadSpec{DEV(R"({"hooks": [{"hookName": "poststop", "path": "x"}]})"),
                "is not absolute"},
        BadSpec{DEV(R"({"hooks": [{"hookName": "poststop", "path": "/x",
                        "timeout": 0}]})"),
                "timeout: want an integer in [1, "},
        BadSpec{DEV(R"({"additionalGids": [-1]})"),
                "additionalGids[0]: want an integer in [0, 4294967295]"},
        BadSpec{DEV(R"([])"), "containerEdits: want an object"}));

TEST(ParseSpecTest, BadYamlIsAnErrorNotACrash) {
  for (const char* text : {"{", "a: [", "- - - -", "kind: [1, 2]",
                           "devices: *nothing", "a: 1\na: 2\n",
                           "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                           "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                           "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"}) {
    absl::StatusOr<Spec> s = ParseSpec(text, Format::kYaml);
    EXPECT_FALSE(s.ok()) << text;
  }
}

TEST(QualifiedNameTest, SplitsAValidName) {
  absl::StatusOr<QualifiedName> q =
      ParseQualifiedName("nvidia.com/gpu=GPU-1234:0");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->vendor, "nvidia.com");
  EXPECT_EQ(q->class_name, "gpu");
  EXPECT_EQ(q->name, "GPU-1234:0");
  EXPECT_TRUE(ParseQualifiedName("a/b=0").ok());
  EXPECT_TRUE(ParseQualifiedName("vendor.example/test=dev0").ok());
}

TEST(QualifiedNameTest, RefusesWhatIsNotFullyQualified) {
  for (const char* name :
       {"", "gpu0", "nvidia.com/gpu", "gpu=0", "=x", "a/=x", "/b=x",
        "a/b=", "a/b=x/y", "a/b=-x", "a/b=x-", "a/b c=x", "a/b=x y", "1a/b=x",
        "a/1b=x", "a_/b=x"}) {
    absl::StatusOr<QualifiedName> q = ParseQualifiedName(name);
    EXPECT_FALSE(q.ok()) << name;
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
  EXPECT_THAT(ParseQualifiedName("gpu0").status().message(),
              HasSubstr("not fully qualified"));
}

TEST(NameRulesTest, FollowTheCdiSpec) {
  EXPECT_TRUE(ValidateVendor("vendor.com").ok());
  EXPECT_TRUE(ValidateVendor("a_b-c.d").ok());
  EXPECT_FALSE(ValidateVendor("").ok());
  EXPECT_FALSE(ValidateVendor("-a").ok());
  EXPECT_TRUE(ValidateClass("gpu").ok());
  EXPECT_TRUE(ValidateClass("foo-bar123.B_az").ok());
  EXPECT_FALSE(ValidateClass("gpu/x").ok());
  EXPECT_TRUE(ValidateDeviceName("0").ok());
  EXPECT_TRUE(ValidateDeviceName("a.b:c_d-e").ok());
  EXPECT_FALSE(ValidateDeviceName("a=b").ok());
  EXPECT_FALSE(ValidateDeviceName(":a").ok());
}

}  // namespace
}  // namespace cradle::cdi
