// Containers over the real socket: real cradled, cradle-shim, runc, CNI
// and busybox images from the local registry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "e2e/harness/pod_test.h"

namespace cradle::e2e {
namespace {

class ContainerTest : public PodTest {
 protected:
  ContainerTest() : PodTest(78) {}
};

using ::testing::HasSubstr;
namespace fs = std::filesystem;
namespace v1 = runtime::v1;

TEST_F(ContainerTest, LifecycleLogsExecStopRemove) {
  std::string pod = RunPod("app");
  std::string id;
  grpc::Status s =
      Create(pod,
             Config("main",
                    {"sh", "-c",
                     "trap '' TERM; echo hello; while true; do sleep 1; done"}),
             &id);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(id.size(), 64u);
  v1::ContainerStatus st;
  ASSERT_TRUE(Status(id.substr(0, 10), &st).ok()) << "a unique prefix works";
  EXPECT_EQ(st.state(), v1::CONTAINER_CREATED);
  EXPECT_EQ(st.metadata().name(), "main");
  EXPECT_EQ(st.labels().at("role"), "main");
  EXPECT_EQ(st.log_path(), logs_ + "/app/main.log");

  ASSERT_TRUE(Start(id).ok());
  ASSERT_TRUE(Status(id, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_RUNNING);
  EXPECT_GT(st.started_at(), 0);
  EXPECT_EQ(Start(id).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  v1::ExecSyncResponse exec;
  ASSERT_TRUE(
      Exec(id, {"sh", "-c", "hostname; echo e >&2; exit 5"}, &exec).ok());
  EXPECT_EQ(exec.stdout(), "app\n");
  EXPECT_EQ(exec.stderr(), "e\n");
  EXPECT_EQ(exec.exit_code(), 5);
  EXPECT_EQ(Exec(id, {"sleep", "30"}, &exec, 1).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);

  for (int i = 0; i < 100 && ReadFile(st.log_path()).empty(); ++i)
    usleep(20 * 1000);
  EXPECT_THAT(ReadFile(st.log_path()), HasSubstr(" stdout F hello\n"));

  // It ignores SIGTERM: the grace period runs out, then KILL.
  ASSERT_TRUE(StopC(id, 1).ok());
  ASSERT_TRUE(Status(id, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(st.exit_code(), 137);
  EXPECT_EQ(st.reason(), "Error");
  EXPECT_GE(st.finished_at(), st.started_at());
  EXPECT_TRUE(StopC(id, 1).ok()) << "stopping again is fine";

  ASSERT_TRUE(RemoveC(id).ok());
  EXPECT_EQ(Status(id, &st).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(RemoveC(id).ok()) << "removal is idempotent";
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(ContainerTest, ExitCodesAndReasons) {
  std::string pod = RunPod("jobs");
  std::string ok = RunContainer(pod, Config("ok", {"true"}));
  std::string bad = RunContainer(pod, Config("bad", {"sh", "-c", "exit 3"}));
  v1::ContainerStatus st = WaitExited(ok);
  EXPECT_EQ(st.exit_code(), 0);
  EXPECT_EQ(st.reason(), "Completed");
  st = WaitExited(bad);
  EXPECT_EQ(st.exit_code(), 3);
  EXPECT_EQ(st.reason(), "Error");

  grpc::ClientContext ctx;
  v1::ListContainersRequest req;
  req.mutable_filter()->mutable_state()->set_state(v1::CONTAINER_EXITED);
  (*req.mutable_filter()->mutable_label_selector())["role"] = "bad";
  v1::ListContainersResponse resp;
  ASSERT_TRUE(daemon().runtime().ListContainers(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.containers_size(), 1);
  EXPECT_EQ(resp.containers(0).id(), bad);
  EXPECT_EQ(resp.containers(0).pod_sandbox_id(), pod);
  // Removing the pod removes its containers.
  ASSERT_TRUE(RemovePod(pod).ok());
  EXPECT_EQ(Status(ok, &st).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ContainerTest, BadRequestsAnswerClearly) {
  std::string pod = RunPod("bad");
  std::string id;
  grpc::Status s = Create("nosuchpod", Config("c", {"true"}), &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);

  v1::ContainerConfig missing = Config("c", {"true"});
  missing.mutable_image()->set_image("127.0.0.1:1/not/there:1");
  s = Create(pod, missing, &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("pull it first"));

  s = Create(pod, Config("c", {"/bin/no-such-binary"}), &id);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error_message(), HasSubstr("no-such-binary"));

  v1::ContainerConfig user = Config("u", {"true"});
  user.mutable_linux()->mutable_security_context()->set_run_as_username(
      "nobody-here");
  s = Create(pod, user, &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("nobody-here"));

  ASSERT_TRUE(Create(pod, Config("same", {"true"}), &id).ok());
  std::string again;
  s = Create(pod, Config("same", {"true"}), &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(s.error_message(), HasSubstr(id));

  v1::ContainerStatus st;
  EXPECT_EQ(Status("ffffffffffff", &st).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Start("ffffffffffff").error_code(), grpc::StatusCode::NOT_FOUND);
  v1::ExecSyncResponse exec;
  EXPECT_EQ(Exec(id, {"true"}, &exec).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION)
      << "exec needs a running container";
  // A removed pod's containers are gone, and it takes no new ones.
  ASSERT_TRUE(RemovePod(pod).ok());
  EXPECT_EQ(Status(id, &st).error_code(), grpc::StatusCode::NOT_FOUND);
  s = Create(pod, Config("late", {"true"}), &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ContainerTest, PodsShareTheirPidNamespaceAndReachEachOther) {
  std::string a = RunPod("server");
  std::string b = RunPod("client");
  std::string server = RunContainer(
      a, Config("srv", {"sh", "-c",
                        "while true; do echo pong | nc -l -p 8080; done"}));
  std::string sidecar = RunContainer(a, Config("side", {"sleep", "1000"}));
  std::string client = RunContainer(b, Config("cli", {"sleep", "1000"}));

  v1::ExecSyncResponse exec;
  ASSERT_TRUE(Exec(sidecar, {"ps", "-o", "args"}, &exec).ok());
  EXPECT_THAT(exec.stdout(), HasSubstr("/pause"));
  EXPECT_THAT(exec.stdout(), HasSubstr("nc -l -p 8080"))
      << "containers of one pod see each other's processes";

  grpc::ClientContext ctx;
  v1::PodSandboxStatusRequest req;
  req.set_pod_sandbox_id(a);
  v1::PodSandboxStatusResponse resp;
  ASSERT_TRUE(daemon().runtime().PodSandboxStatus(&ctx, req, &resp).ok());
  std::string ip = resp.status().network().ip();
  ASSERT_THAT(ip, ::testing::StartsWith(network_.prefix()));
  std::string reply;
  for (int i = 0; i < 50 && reply.find("pong") == std::string::npos; ++i) {
    ASSERT_TRUE(Exec(client, {"nc", "-w", "2", ip, "8080"}, &exec).ok());
    reply = exec.stdout();
    if (reply.empty()) usleep(100 * 1000);
  }
  EXPECT_EQ(reply, "pong\n");
  ASSERT_TRUE(RemovePod(a).ok());
  ASSERT_TRUE(RemovePod(b).ok());
}

TEST_F(ContainerTest, ContainersOutliveADaemonKilledWithSigkill) {
  std::string pod = RunPod("survivor");
  std::string gate = logs_ + "/gate";
  fs::create_directories(gate);
  v1::ContainerConfig waiter = Config(
      "waiter",
      {"sh", "-c", "while [ ! -e /gate/go ]; do sleep 0.1; done; exit 7"});
  v1::Mount* m = waiter.add_mounts();
  m->set_container_path("/gate");
  m->set_host_path(gate);
  std::string waiting = RunContainer(pod, waiter);
  std::string steady = RunContainer(pod, Config("steady", {"sleep", "1000"}));

  ASSERT_TRUE(daemon().Stop(SIGKILL).ok());
  // While cradled is down, one container exits; its shim writes it down.
  std::ofstream(gate + "/go") << "";
  usleep(500 * 1000);
  ASSERT_TRUE(daemon().Restart().ok());

  v1::ContainerStatus st = WaitExited(waiting);
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(st.exit_code(), 7);
  ASSERT_TRUE(Status(steady, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_RUNNING);
  v1::ExecSyncResponse exec;
  ASSERT_TRUE(Exec(steady, {"echo", "still here"}, &exec).ok());
  EXPECT_EQ(exec.stdout(), "still here\n");
  ASSERT_TRUE(StopC(steady, 0).ok());
  EXPECT_EQ(WaitExited(steady).exit_code(), 137);
  ASSERT_TRUE(RemovePod(pod).ok());
}

}  // namespace
}  // namespace cradle::e2e

namespace cradle::e2e {
namespace {

TEST_F(ContainerTest, StatsComeFromCgroupsAndTheWritableLayer) {
  std::string pod = RunPod("stats");
  std::string busy = RunContainer(
      pod, Config("busy", {"sh", "-c",
                           "dd if=/dev/zero of=/big bs=1k count=2048; "
                           "while true; do :; done"}));
  std::string idle;
  ASSERT_TRUE(Create(pod, Config("idle", {"sleep", "1000"}), &idle).ok());

  auto stats = [&](const std::string& id) {
    grpc::ClientContext ctx;
    v1::ContainerStatsRequest req;
    req.set_container_id(id);
    v1::ContainerStatsResponse resp;
    grpc::Status s = daemon().runtime().ContainerStats(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.stats();
  };
  // The busy loop has run a while and written its 2 MiB file.
  v1::ContainerStats first, second;
  for (int i = 0; i < 100; ++i) {
    first = stats(busy);
    if (first.writable_layer().used_bytes().value() >= (2u << 20)) break;
    usleep(100 * 1000);
  }
  usleep(300 * 1000);
  second = stats(busy);
  EXPECT_EQ(second.attributes().id(), busy);
  EXPECT_EQ(second.attributes().metadata().name(), "busy");
  EXPECT_GT(second.cpu().usage_core_nano_seconds().value(),
            first.cpu().usage_core_nano_seconds().value());
  EXPECT_GT(second.cpu().usage_nano_cores().value(), 0u)
      << "a busy loop uses a measurable share of a core";
  EXPECT_GT(second.memory().working_set_bytes().value(), 0u);
  EXPECT_GE(second.writable_layer().used_bytes().value(), 2u << 20);
  EXPECT_GT(second.writable_layer().timestamp(), 0);

  // A created container has only its layer and attributes.
  v1::ContainerStats created = stats(idle);
  EXPECT_FALSE(created.has_cpu());
  EXPECT_TRUE(created.has_writable_layer());

  {
    grpc::ClientContext ctx;
    v1::ListContainerStatsRequest req;
    req.mutable_filter()->set_pod_sandbox_id(pod);
    (*req.mutable_filter()->mutable_label_selector())["role"] = "busy";
    v1::ListContainerStatsResponse resp;
    ASSERT_TRUE(daemon().runtime().ListContainerStats(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.stats_size(), 1);
    EXPECT_EQ(resp.stats(0).attributes().id(), busy);
  }
  {
    grpc::ClientContext ctx;
    v1::ContainerStatsRequest req;
    req.set_container_id("nope");
    v1::ContainerStatsResponse resp;
    EXPECT_EQ(daemon().runtime().ContainerStats(&ctx, req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    v1::PodSandboxStatsRequest req;
    req.set_pod_sandbox_id(pod);
    v1::PodSandboxStatsResponse resp;
    ASSERT_TRUE(daemon().runtime().PodSandboxStats(&ctx, req, &resp).ok());
    const v1::LinuxPodSandboxStats& l = resp.stats().linux();
    EXPECT_EQ(resp.stats().attributes().metadata().name(), "stats");
    EXPECT_EQ(l.containers_size(), 2);
    EXPECT_GT(l.cpu().usage_core_nano_seconds().value(), 0u);
    EXPECT_GE(l.process().process_count().value(), 1u);
    EXPECT_EQ(l.network().default_interface().name(), "eth0");
    EXPECT_GT(l.network().default_interface().tx_bytes().value() +
                  l.network().default_interface().rx_bytes().value(),
              0u)
        << "the pod's interface has seen at least its own DAD/ARP traffic";
  }
  {
    grpc::ClientContext ctx;
    v1::ListPodSandboxStatsRequest req;
    req.mutable_filter()->set_id(pod.substr(0, 12));
    v1::ListPodSandboxStatsResponse resp;
    ASSERT_TRUE(daemon().runtime().ListPodSandboxStats(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.stats_size(), 1);
    EXPECT_EQ(resp.stats(0).attributes().id(), pod);
  }
  ASSERT_TRUE(RemovePod(pod).ok());
}

}  // namespace
}  // namespace cradle::e2e

namespace cradle::e2e {
namespace {

TEST_F(ContainerTest, SigtermLetsCallsInFlightFinish) {
  std::string pod = RunPod("drain");
  std::string c = RunContainer(pod, Config("main", {"sleep", "1000"}));
  v1::ExecSyncResponse exec;
  grpc::Status in_flight;
  std::thread call([&] {
    in_flight = Exec(c, {"sh", "-c", "sleep 2; echo finished"}, &exec);
  });
  // SIGTERM only once the exec runs in the container.
  for (int i = 0; i < 200 && FindHostProcess("sleep 2; echo finished") == 0;
       ++i) {
    usleep(20 * 1000);
  }
  absl::Status stopped = daemon().Stop(SIGTERM);
  call.join();  // before any assertion, so a failure cannot leave it running
  ASSERT_TRUE(stopped.ok()) << "cradled exits on SIGTERM: " << stopped;
  EXPECT_TRUE(in_flight.ok()) << in_flight.error_message();
  EXPECT_EQ(exec.stdout(), "finished\n");
  EXPECT_THAT(daemon().Log(), HasSubstr("draining in-flight calls"));
  ASSERT_TRUE(daemon().Restart().ok());
  ASSERT_TRUE(RemovePod(pod).ok());
}

}  // namespace
}  // namespace cradle::e2e

namespace cradle::e2e {
namespace {

TEST_F(ContainerTest, TheShimLivesInACgroupOfItsOwnUntilThePodGoes) {
  std::string pod = RunPod("shimcg");
  pid_t shim = FindHostProcess(
      absl::StrCat("--socket ", daemon().state(), "/s/", pod.substr(0, 24)));
  ASSERT_GT(shim, 0);
  std::string own = "/cradle-shims/" + pod.substr(0, 12);
  // v1 (this machine): the memory hierarchy; v2: the unified tree.
  bool v1 = fs::exists("/sys/fs/cgroup/memory");
  std::string dir = (v1 ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup") + own;
  EXPECT_THAT(ReadFile(absl::StrCat("/proc/", shim, "/cgroup")),
              HasSubstr((v1 ? ":memory:" : "0::") + own));
  ASSERT_TRUE(fs::exists(dir));
  ASSERT_TRUE(RemovePod(pod).ok());
  EXPECT_FALSE(fs::exists(dir)) << "the shim's cgroup goes with the pod";
}

}  // namespace
}  // namespace cradle::e2e
