// End to end: CDI devices (CDI_devices and the cdi.k8s.io/ annotations)
// resolved from JSON and YAML spec files in a configured spec dir, made
// into a real container by runc: device nodes, env, a bind mount.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "e2e/harness/pod_test.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The spec dir exists before the daemon starts: its path is in the config.
std::string MakeTempDir(const char* prefix) {
  std::string tmpl = absl::StrCat("/tmp/", prefix, "-XXXXXX");
  char* dir = mkdtemp(tmpl.data());
  return dir == nullptr ? "" : std::string(dir);
}

class CdiTest : public PodTest {
 protected:
  CdiTest()
      : PodTest(71),
        spec_dir_(MakeTempDir("cradle-cdi-specs")),
        host_dir_(MakeTempDir("cradle-cdi-data")) {}
  ~CdiTest() override {
    std::error_code ec;
    fs::remove_all(spec_dir_, ec);
    fs::remove_all(host_dir_, ec);
  }

  std::string ExtraConfig() override {
    return PodTest::ExtraConfig() +
           absl::StrCat("\n[runtime]\ncdi_spec_dirs = [\"", spec_dir_,
                        "/none\", \"", spec_dir_, "\"]\n");
  }

  void SetUp() override {
    ASSERT_FALSE(spec_dir_.empty());
    ASSERT_FALSE(host_dir_.empty());
    PodTest::SetUp();
    if (HasFatalFailure()) return;
    std::ofstream(host_dir_ + "/hello") << "hi from the host\n";
    // dev0: type, major and minor left for cradle to read from /dev/zero.
    std::ofstream(spec_dir_ + "/test.json") << R"({
  "cdiVersion": "0.5.0",
  "kind": "vendor.example/test",
  "containerEdits": {"env": ["CDI_SPEC_LEVEL=yes"]},
  "devices": [{
    "name": "dev0",
    "containerEdits": {
      "env": ["CDI_TEST=json-dev0"],
      "deviceNodes": [{"path": "/dev/cdi-zero", "hostPath": "/dev/zero"}],
      "mounts": [{"hostPath": ")" + host_dir_ + R"(",
                  "containerPath": "/cdi-data",
                  "options": ["ro", "nosuid", "nodev", "bind"]}]
    }
  }]
})";
    std::ofstream(spec_dir_ + "/other.yaml") << R"(
cdiVersion: 0.6.0
kind: vendor.example/yaml
devices:
  - name: dev1
    containerEdits:
      env: [CDI_YAML=dev1]
      deviceNodes:
        - path: /dev/cdi-null
          hostPath: /dev/null
          type: c
          major: 1
          minor: 3
          permissions: rw
)";
    // A broken spec beside them must not stop them from loading.
    std::ofstream(spec_dir_ + "/broken.json") << "{\"cdiVersion\": ";
  }

  std::string ExecOut(const std::string& id, std::vector<std::string> cmd) {
    v1::ExecSyncResponse r;
    grpc::Status s = Exec(id, cmd, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(r.exit_code(), 0) << r.stderr();
    return r.stdout();
  }
  int ExecCode(const std::string& id, std::vector<std::string> cmd) {
    v1::ExecSyncResponse r;
    grpc::Status s = Exec(id, cmd, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return r.exit_code();
  }
  std::vector<std::string> ContainerIds() {
    grpc::ClientContext ctx;
    v1::ListContainersResponse list;
    EXPECT_TRUE(daemon()
                    .runtime()
                    .ListContainers(&ctx, v1::ListContainersRequest(), &list)
                    .ok());
    std::vector<std::string> ids;
    for (const v1::Container& c : list.containers()) ids.push_back(c.id());
    return ids;
  }

  std::string spec_dir_;
  std::string host_dir_;
};

TEST_F(CdiTest, DevicesEnvAndMountsReachTheContainer) {
  std::string pod = RunPod("cdi");
  v1::ContainerConfig config = Config("gpu", {"sleep", "300"});
  config.add_cdi_devices()->set_name("vendor.example/test=dev0");
  // The older way, as the device plugins of Kubernetes < 1.28 ask.
  (*config.mutable_annotations())["cdi.k8s.io/yaml-dev"] =
      "vendor.example/yaml=dev1";
  std::string id = RunContainer(pod, config);
  ASSERT_FALSE(id.empty());

  // Nodes with the host's type and numbers (stat prints them in hex).
  EXPECT_EQ(ExecOut(id, {"stat", "-c", "%F %t %T", "/dev/cdi-zero"}),
            "character special file 1 5\n");
  EXPECT_EQ(ExecOut(id, {"stat", "-c", "%F %t %T", "/dev/cdi-null"}),
            "character special file 1 3\n");
  // And the device cgroup lets them be used.
  EXPECT_EQ(ExecOut(id, {"sh", "-c", "head -c 4 /dev/cdi-zero | wc -c"}),
            "4\n");
  EXPECT_EQ(ExecCode(id, {"sh", "-c", "echo x > /dev/cdi-null"}), 0);

  // The container's process, not pid 1: the pod's pause holds that.
  std::string environ = ExecOut(
      id, {"sh", "-c", "tr '\\0' '\\n' < /proc/$(pidof sleep)/environ"});
  EXPECT_THAT(environ, HasSubstr("CDI_TEST=json-dev0\n"));
  EXPECT_THAT(environ, HasSubstr("CDI_SPEC_LEVEL=yes\n"));
  EXPECT_THAT(environ, HasSubstr("CDI_YAML=dev1\n"));

  EXPECT_EQ(ExecOut(id, {"cat", "/cdi-data/hello"}), "hi from the host\n");
  EXPECT_NE(ExecCode(id, {"touch", "/cdi-data/new"}), 0) << "mounted ro";
  EXPECT_FALSE(fs::exists(host_dir_ + "/new"));

  EXPECT_TRUE(StopC(id, 0).ok());
  EXPECT_TRUE(StopPod(pod).ok());
  EXPECT_TRUE(RemovePod(pod).ok());
}

TEST_F(CdiTest, BadDevicesAreRefusedAndLeaveNothingBehind) {
  std::string pod = RunPod("cdi-bad");
  std::string id;

  v1::ContainerConfig unknown = Config("unknown", {"sleep", "300"});
  unknown.add_cdi_devices()->set_name("vendor.example/test=missing0");
  grpc::Status s = Create(pod, unknown, &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("vendor.example/test=missing0"));
  EXPECT_THAT(s.error_message(), HasSubstr(spec_dir_));
  // The skipped file is named, so a person can see why it is not found.
  EXPECT_THAT(s.error_message(), HasSubstr("broken.json"));

  v1::ContainerConfig malformed = Config("malformed", {"sleep", "300"});
  malformed.add_cdi_devices()->set_name("dev0");
  s = Create(pod, malformed, &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("\"dev0\" is not fully qualified"));

  v1::ContainerConfig annotated = Config("annotated", {"sleep", "300"});
  (*annotated.mutable_annotations())["cdi.k8s.io/x"] = "not a name";
  s = Create(pod, annotated, &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("annotation cdi.k8s.io/x"));

  EXPECT_THAT(ContainerIds(), IsEmpty());
  std::error_code ec;
  std::string own_dirs = daemon().root() + "/cri/containers";
  EXPECT_TRUE(!fs::exists(own_dirs, ec) || fs::is_empty(own_dirs, ec));
  // The same names resolve once a spec defines them.
  std::ofstream(spec_dir_ + "/late.json") << R"({"cdiVersion": "0.5.0",
      "kind": "vendor.example/test", "devices": [{"name": "missing0",
      "containerEdits": {"env": ["LATE=1"]}}]})";
  s = Create(pod, unknown, &id);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(StopPod(pod).ok());
  EXPECT_TRUE(RemovePod(pod).ok());
}

}  // namespace
}  // namespace cradle::e2e
