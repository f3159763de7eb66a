// Runtime handlers (RuntimeClass): each pod runs under the OCI runtime its
// handler names, with a real runc and a real crun.
#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "e2e/harness/pod_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "process/process.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class RuntimeHandlerTest : public PodTest {
 protected:
  RuntimeHandlerTest() : PodTest(94) {}

  std::string ExtraConfig() override {
    // A handler whose binary this machine lacks: configured, unusable.
    return PodTest::ExtraConfig() +
           "\n[runtime.handlers.ghost]\nbinary = \"/nonexistent/ghost\"\n";
  }

  grpc::Status RunPodWith(const std::string& name, const std::string& handler,
                          std::string* id) {
    grpc::ClientContext ctx;
    v1::RunPodSandboxRequest req;
    *req.mutable_config() = PodConfig(name);
    req.set_runtime_handler(handler);
    v1::RunPodSandboxResponse resp;
    grpc::Status s = daemon().runtime().RunPodSandbox(&ctx, req, &resp);
    *id = resp.pod_sandbox_id();
    return s;
  }

  std::string HandlerOf(const std::string& pod) {
    grpc::ClientContext ctx;
    v1::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(pod);
    v1::PodSandboxStatusResponse resp;
    grpc::Status s = daemon().runtime().PodSandboxStatus(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.status().runtime_handler();
  }

  // The ids `runtime` itself lists in its state dir under the daemon's.
  std::vector<std::string> Listed(const std::string& runtime) {
    absl::StatusOr<RunResult> r = RunAndCapture(SpawnOptions{
        {runtime, "--root", daemon().state() + "/" + runtime, "list", "-q"}});
    if (!r.ok() || !r->status.ok()) return {};
    return absl::StrSplit(r->out, '\n', absl::SkipEmpty());
  }

  int PodCount() {
    grpc::ClientContext ctx;
    v1::ListPodSandboxRequest req;
    v1::ListPodSandboxResponse resp;
    EXPECT_TRUE(daemon().runtime().ListPodSandbox(&ctx, req, &resp).ok());
    return resp.items_size();
  }
};

TEST_F(RuntimeHandlerTest, StatusListsTheUsableHandlersAndTheDefault) {
  grpc::ClientContext ctx;
  v1::StatusRequest req;
  v1::StatusResponse resp;
  ASSERT_TRUE(daemon().runtime().Status(&ctx, req, &resp).ok());
  std::vector<std::string> names;
  for (const v1::RuntimeHandler& h : resp.runtime_handlers()) {
    names.push_back(h.name());
    // Both are cradle's own mounts, the same under every handler (their
    // values are checked by mount_features_test and userns_test).
    EXPECT_EQ(h.features().recursive_read_only_mounts(),
              resp.runtime_handlers(0).features().recursive_read_only_mounts())
        << h.name();
    EXPECT_EQ(h.features().user_namespaces(),
              resp.runtime_handlers(0).features().user_namespaces())
        << h.name();
  }
  // "ghost" is configured but not installed: not offered.
  EXPECT_THAT(names, UnorderedElementsAre("", "runc", "crun"));
  EXPECT_TRUE(resp.features().supplemental_groups_policy());
}

TEST_F(RuntimeHandlerTest, EachPodRunsUnderTheRuntimeItsHandlerNames) {
  for (const std::string handler : {"crun", "runc"}) {
    SCOPED_TRACE(handler);
    std::string other = handler == "crun" ? "runc" : "crun";
    std::string pod;
    grpc::Status s = RunPodWith("rt-" + handler, handler, &pod);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(HandlerOf(pod), handler);
    v1::ContainerConfig config =
        Config("app", {"sh", "-c", "echo up; exec sleep 300"});
    std::string c;
    s = Create(pod, config, &c, "rt-" + handler);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(Start(c).ok());
    // The runtime named holds the container; the other knows nothing of it.
    EXPECT_THAT(Listed(handler), testing::Contains(c));
    EXPECT_THAT(Listed(other), testing::Not(testing::Contains(c)));
    v1::ExecSyncResponse out;
    ASSERT_TRUE(Exec(c, {"cat", "/proc/1/cmdline"}, &out).ok());
    EXPECT_EQ(out.exit_code(), 0);
    ASSERT_TRUE(StopC(c, 5).ok());
    EXPECT_EQ(WaitExited(c).state(), v1::CONTAINER_EXITED);
    ASSERT_TRUE(RemoveC(c).ok());
    ASSERT_TRUE(StopPod(pod).ok());
    ASSERT_TRUE(RemovePod(pod).ok());
    EXPECT_THAT(Listed(handler), testing::IsEmpty());
  }
}

TEST_F(RuntimeHandlerTest, APodNamingNoHandlerGetsTheDefaultAndSaysSo) {
  std::string pod;
  ASSERT_TRUE(RunPodWith("rt-default", "", &pod).ok());
  // The embedded default is ["crun", "runc"]: crun, installed here, first.
  EXPECT_EQ(HandlerOf(pod), "crun");
  ASSERT_TRUE(StopPod(pod).ok());
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(RuntimeHandlerTest, UnknownAndUnusableHandlersAreRefusedBeforeAnything) {
  std::string pod;
  grpc::Status s = RunPodWith("rt-unknown", "no-such-handler", &pod);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("\"no-such-handler\""));
  EXPECT_THAT(s.error_message(), HasSubstr("crun, ghost, runc"));
  s = RunPodWith("rt-ghost", "ghost", &pod);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("/nonexistent/ghost"));
  EXPECT_EQ(PodCount(), 0) << "nothing was reserved";
  // The name is free for a pod that names a runtime this node has.
  s = RunPodWith("rt-unknown", "crun", &pod);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(StopPod(pod).ok());
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(RuntimeHandlerTest, ADeadShimsCrunContainerIsCleanedUpThroughCrun) {
  std::string pod;
  ASSERT_TRUE(RunPodWith("rt-dead", "crun", &pod).ok());
  std::string c;
  ASSERT_TRUE(Create(pod, Config("app", {"sleep", "301"}), &c, "rt-dead").ok());
  ASSERT_TRUE(Start(c).ok());
  pid_t shim = FindHostProcess(
      absl::StrCat("--socket ", daemon().state(), "/s/", pod.substr(0, 24)));
  ASSERT_GT(shim, 0);
  ASSERT_EQ(kill(shim, SIGKILL), 0);
  // The daemon finds the shim dead and kills and deletes through crun.
  EXPECT_EQ(WaitExited(c).state(), v1::CONTAINER_EXITED);
  for (int i = 0; i < 200 && !Listed("crun").empty(); ++i) usleep(50 * 1000);
  EXPECT_THAT(Listed("crun"), testing::IsEmpty());
  EXPECT_EQ(FindHostProcess("sleep 301"), 0);
  ASSERT_TRUE(RemoveC(c).ok());
  ASSERT_TRUE(StopPod(pod).ok());
  ASSERT_TRUE(RemovePod(pod).ok());
}

}  // namespace
}  // namespace cradle::e2e
