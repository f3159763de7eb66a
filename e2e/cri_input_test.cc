// CRI input that would write outside its place is refused at the RPC's
// entry, with InvalidArgument naming the field, and leaves nothing behind.
#include <gmock/gmock.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "e2e/harness/pod_test.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;
namespace v1 = runtime::v1;

class CriInputTest : public PodTest {
 protected:
  CriInputTest() : PodTest(93) {}

  grpc::Status TryPod(const v1::PodSandboxConfig& config) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    v1::RunPodSandboxRequest req;
    *req.mutable_config() = config;
    v1::RunPodSandboxResponse resp;
    return daemon().runtime().RunPodSandbox(&ctx, req, &resp);
  }
  // Create with a deadline: a refused call must answer, not hang.
  grpc::Status TryContainer(const std::string& pod,
                            const v1::ContainerConfig& c) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    v1::CreateContainerRequest req;
    req.set_pod_sandbox_id(pod);
    *req.mutable_config() = c;
    *req.mutable_sandbox_config() = PodConfig("ok");
    v1::CreateContainerResponse resp;
    return daemon().runtime().CreateContainer(&ctx, req, &resp);
  }
  int PodCount() {
    grpc::ClientContext ctx;
    v1::ListPodSandboxResponse resp;
    EXPECT_TRUE(daemon()
                    .runtime()
                    .ListPodSandbox(&ctx, v1::ListPodSandboxRequest(), &resp)
                    .ok());
    return resp.items_size();
  }
  int ContainerCount() {
    grpc::ClientContext ctx;
    v1::ListContainersResponse resp;
    EXPECT_TRUE(daemon()
                    .runtime()
                    .ListContainers(&ctx, v1::ListContainersRequest(), &resp)
                    .ok());
    return resp.containers_size();
  }
};

void ExpectRefused(const grpc::Status& s, const std::string& field) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(field));
}

TEST_F(CriInputTest, PodConfigThatWouldEscapeIsRefusedBeforeAnythingRuns) {
  v1::PodSandboxConfig c = PodConfig("evil");
  c.mutable_metadata()->set_name("evil;K8S_POD_NAMESPACE=kube-system");
  ExpectRefused(TryPod(c), "CNI_ARGS");

  // The refused name is quoted escaped, in the field's message and in the
  // call's prefix alike: one error, one line.
  c = PodConfig("evil");
  c.mutable_metadata()->set_name("evil\nname");
  grpc::Status s = TryPod(c);
  ExpectRefused(s, "CNI_ARGS");
  EXPECT_THAT(s.error_message(), HasSubstr("evil\\nname"));
  EXPECT_THAT(s.error_message(), Not(HasSubstr("\n")));

  c = PodConfig("evil");
  c.set_hostname("evil\n10.0.0.1 kubernetes.default");
  ExpectRefused(TryPod(c), "hostname");

  c = PodConfig("evil");
  c.mutable_dns_config()->add_servers("10.0.0.10\nnameserver 6.6.6.6");
  ExpectRefused(TryPod(c), "dns_config.servers");

  c = PodConfig("evil");
  c.mutable_dns_config()->add_options("ndots:5\nsearch evil.example");
  ExpectRefused(TryPod(c), "dns_config.options");

  c = PodConfig("evil");
  c.mutable_linux()->set_cgroup_parent("/kubepods/../../system.slice");
  ExpectRefused(TryPod(c), "cgroup_parent");

  EXPECT_EQ(PodCount(), 0) << "a refused pod left a record";
}

TEST_F(CriInputTest, ContainerConfigThatWouldEscapeIsRefused) {
  std::string pod = RunPod("ok");
  ASSERT_FALSE(pod.empty());

  v1::ContainerConfig c = Config("c", {"true"});
  c.set_log_path("../../escaped.log");
  grpc::Status s = TryContainer(pod, c);
  ExpectRefused(s, "log_path");
  EXPECT_THAT(s.error_message(), HasSubstr("log_directory"));
  // Relative to the pod's log_directory, logs_/ok: where it would land,
  // and one level short of it.
  std::string escaped = fs::path(logs_).parent_path() / "escaped.log";
  EXPECT_FALSE(fs::exists(escaped)) << escaped;
  EXPECT_FALSE(fs::exists(logs_ + "/escaped.log"));
  // One level up stays in this test's own directory: a check that cannot
  // be confused by a file someone else left in /tmp.
  c.set_log_path("../escaped.log");
  ExpectRefused(TryContainer(pod, c), "log_path");
  EXPECT_FALSE(fs::exists(logs_ + "/escaped.log"));

  c.set_log_path(logs_ + "/absolute.log");
  ExpectRefused(TryContainer(pod, c), "log_path");
  EXPECT_FALSE(fs::exists(logs_ + "/absolute.log"));

  // A Localhost profile without a file is refused, not taken for none.
  c = Config("c", {"true"});
  c.mutable_linux()->mutable_security_context()->set_seccomp_profile_path(
      "localhost/");
  ExpectRefused(TryContainer(pod, c), "Localhost");
  c = Config("c", {"true"});
  c.mutable_linux()
      ->mutable_security_context()
      ->mutable_seccomp()
      ->set_profile_type(v1::SecurityProfile::Localhost);
  ExpectRefused(TryContainer(pod, c), "Localhost");

  // The container's name in the call's prefix is escaped too.
  c = Config("c\nname", {"true"});
  c.set_log_path("../x.log");
  s = TryContainer(pod, c);
  ExpectRefused(s, "log_path");
  EXPECT_THAT(s.error_message(), Not(HasSubstr("\n")));

  // A FIFO would block the call forever.
  std::string fifo = logs_ + "/profile.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  c = Config("c", {"true"});
  c.mutable_linux()->mutable_security_context()->set_seccomp_profile_path(
      "localhost/" + fifo);
  s = TryContainer(pod, c);
  // A writer frees a reader stuck in open (were the FIFO ever opened).
  close(open(fifo.c_str(), O_WRONLY | O_NONBLOCK));
  ExpectRefused(s, "regular file");

  EXPECT_EQ(ContainerCount(), 0) << "a refused container left a record";
}

}  // namespace
}  // namespace cradle::e2e
