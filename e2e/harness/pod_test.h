// A base for e2e suites that run pods and containers: a real cradled with a
// CNI test network, the busybox image pulled, and short helpers for the
// CRI calls the suites repeat.
#ifndef CRADLE_E2E_HARNESS_POD_TEST_H_
#define CRADLE_E2E_HARNESS_POD_TEST_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/harness/fixture.h"
#include "e2e/harness/test_network.h"
#include "lite/files.h"

namespace cradle::e2e {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

inline std::string ReadFile(const std::string& path) {
  return lite::ReadFileOrEmpty(path);
}

class PodTest : public CradleTest {
 protected:
  // Each suite gets its own CNI subnet, 10.88.<octet>.0/24.
  explicit PodTest(int octet) : network_(octet) {}

  std::string ExtraConfig() override {
    return CradleTest::ExtraConfig() + network_.DaemonConfig();
  }
  void SetUp() override {
    CradleTest::SetUp();
    if (HasFatalFailure()) return;
    char tmpl[] = "/tmp/cradle-logs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    logs_ = tmpl;
    grpc::ClientContext ctx;
    v1::PullImageRequest req;
    req.mutable_image()->set_image(images().Ref("busybox:latest"));
    v1::PullImageResponse resp;
    grpc::Status s = daemon().images().PullImage(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  void TearDown() override {
    CradleTest::TearDown();
    std::error_code ec;
    fs::remove_all(logs_, ec);
  }

  // Suites that need more of every pod (a cgroup parent) override it.
  virtual v1::PodSandboxConfig PodConfig(const std::string& name) {
    v1::PodSandboxConfig c;
    c.mutable_metadata()->set_name(name);
    c.mutable_metadata()->set_namespace_("e2e");
    c.mutable_metadata()->set_uid("uid-" + name);
    c.set_hostname(name);
    c.set_log_directory(logs_ + "/" + name);
    return c;
  }
  std::string RunPod(const std::string& name) {
    grpc::ClientContext ctx;
    v1::RunPodSandboxRequest req;
    *req.mutable_config() = PodConfig(name);
    v1::RunPodSandboxResponse resp;
    grpc::Status s = daemon().runtime().RunPodSandbox(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.pod_sandbox_id();
  }
  v1::ContainerConfig Config(const std::string& name,
                             std::vector<std::string> command) {
    v1::ContainerConfig c;
    c.mutable_metadata()->set_name(name);
    c.mutable_image()->set_image(images().Ref("busybox:latest"));
    for (const std::string& a : command) c.add_command(a);
    c.set_log_path(name + ".log");
    (*c.mutable_labels())["role"] = name;
    return c;
  }
  grpc::Status Create(const std::string& pod, const v1::ContainerConfig& c,
                      std::string* id, const std::string& pod_name = "") {
    grpc::ClientContext ctx;
    v1::CreateContainerRequest req;
    req.set_pod_sandbox_id(pod);
    *req.mutable_config() = c;
    *req.mutable_sandbox_config() = PodConfig(pod_name);
    v1::CreateContainerResponse resp;
    grpc::Status s = daemon().runtime().CreateContainer(&ctx, req, &resp);
    *id = resp.container_id();
    return s;
  }
  grpc::Status Start(const std::string& id) {
    grpc::ClientContext ctx;
    v1::StartContainerRequest req;
    req.set_container_id(id);
    v1::StartContainerResponse resp;
    return daemon().runtime().StartContainer(&ctx, req, &resp);
  }
  // Create + start; fails the test on error.
  std::string RunContainer(const std::string& pod,
                           const v1::ContainerConfig& c) {
    std::string id;
    grpc::Status s = Create(pod, c, &id);
    EXPECT_TRUE(s.ok()) << s.error_message();
    s = Start(id);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return id;
  }
  grpc::Status StopC(const std::string& id, int64_t timeout) {
    grpc::ClientContext ctx;
    v1::StopContainerRequest req;
    req.set_container_id(id);
    req.set_timeout(timeout);
    v1::StopContainerResponse resp;
    return daemon().runtime().StopContainer(&ctx, req, &resp);
  }
  grpc::Status RemoveC(const std::string& id) {
    grpc::ClientContext ctx;
    v1::RemoveContainerRequest req;
    req.set_container_id(id);
    v1::RemoveContainerResponse resp;
    return daemon().runtime().RemoveContainer(&ctx, req, &resp);
  }
  grpc::Status Status(const std::string& id, v1::ContainerStatus* out) {
    grpc::ClientContext ctx;
    v1::ContainerStatusRequest req;
    req.set_container_id(id);
    v1::ContainerStatusResponse resp;
    grpc::Status s = daemon().runtime().ContainerStatus(&ctx, req, &resp);
    *out = resp.status();
    return s;
  }
  // Polls until the container has exited (bounded).
  v1::ContainerStatus WaitExited(const std::string& id) {
    v1::ContainerStatus st;
    for (int i = 0; i < 300; ++i) {
      if (!Status(id, &st).ok() || st.state() == v1::CONTAINER_EXITED) break;
      usleep(50 * 1000);
    }
    return st;
  }
  grpc::Status Exec(const std::string& id, std::vector<std::string> cmd,
                    v1::ExecSyncResponse* resp, int64_t timeout = 20) {
    grpc::ClientContext ctx;
    v1::ExecSyncRequest req;
    req.set_container_id(id);
    for (const std::string& a : cmd) req.add_cmd(a);
    req.set_timeout(timeout);
    return daemon().runtime().ExecSync(&ctx, req, resp);
  }
  grpc::Status StopPod(const std::string& id) {
    grpc::ClientContext ctx;
    v1::StopPodSandboxRequest req;
    req.set_pod_sandbox_id(id);
    v1::StopPodSandboxResponse resp;
    return daemon().runtime().StopPodSandbox(&ctx, req, &resp);
  }
  grpc::Status RemovePod(const std::string& id) {
    grpc::ClientContext ctx;
    v1::RemovePodSandboxRequest req;
    req.set_pod_sandbox_id(id);
    v1::RemovePodSandboxResponse resp;
    return daemon().runtime().RemovePodSandbox(&ctx, req, &resp);
  }

  TestNetwork network_;
  std::string logs_;
};

}  // namespace cradle::e2e

#endif  // CRADLE_E2E_HARNESS_POD_TEST_H_
