// A pod is never lost: the daemon killed at every failpoint, shims stopped
// and killed, a reboot, and thirty lifecycles that must leave nothing.
// Every case ends by checking the host for what the pods could leak:
// mounts, namespaces, veths, IP reservations, runc state, cgroups and
// processes.
#include <gmock/gmock.h>
#include <signal.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "e2e/harness/pod_test.h"
#include "failpoint/failpoint.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Counts what a pod can leave on the host.
struct HostFootprint {
  int mounts = 0;     // below the daemon's dirs (rootfs, ns pins, shm)
  int veths = 0;      // on the test bridge
  int ips = 0;        // host-local reservations
  int runc = 0;       // runc and crun state dirs
  int cgroups = 0;    // below the test's cgroup parent
  int pod_dirs = 0;   // <state>/pods/*
  int processes = 0;  // shims of this daemon and the test's sleeps

  bool operator==(const HostFootprint& o) const {
    return mounts == o.mounts && veths == o.veths && ips == o.ips &&
           runc == o.runc && cgroups == o.cgroups && pod_dirs == o.pod_dirs &&
           processes == o.processes;
  }
};

std::ostream& operator<<(std::ostream& os, const HostFootprint& f) {
  return os << "{mounts " << f.mounts << ", veths " << f.veths << ", ips "
            << f.ips << ", runc " << f.runc << ", cgroups " << f.cgroups
            << ", pod dirs " << f.pod_dirs << ", processes " << f.processes
            << "}";
}

int CountEntries(const std::string& dir) {
  std::error_code ec;
  int n = 0;
  for (auto it = fs::directory_iterator(dir, ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

int CountMountsBelow(const std::string& dir) {
  int n = 0;
  std::string line;
  std::ifstream in("/proc/self/mountinfo");
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() > 4 && (f[4] == dir || f[4].rfind(dir + "/", 0) == 0)) ++n;
  }
  return n;
}

// Reserved addresses: host-local keeps one file per IP.
int CountReservations(const std::string& ipam_dir) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(ipam_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (it->is_regular_file(ec) &&
        std::count(name.begin(), name.end(), '.') == 3 &&
        name.rfind("last_reserved_ip", 0) != 0) {
      ++n;
    }
  }
  return n;
}

int CountCgroupsBelow(const std::string& parent) {
  int n = 0;
  for (const std::string& root : {std::string("/sys/fs/cgroup/pids"),
                                  std::string("/sys/fs/cgroup/memory"),
                                  std::string("/sys/fs/cgroup/unified")}) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root + parent, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec)) ++n;
    }
  }
  return n;
}

class RecoveryTest : public PodTest {
 protected:
  RecoveryTest() : PodTest(84) {
    cgroup_parent_ = absl::StrCat("/cradle-e2e-recovery-", getpid());
  }
  void TearDown() override {
    PodTest::TearDown();
    for (const std::string& root : {std::string("/sys/fs/cgroup/pids"),
                                    std::string("/sys/fs/cgroup/memory")}) {
      std::error_code ec;
      fs::remove(root + cgroup_parent_, ec);
    }
  }

  v1::PodSandboxConfig PodConfig(const std::string& name) override {
    v1::PodSandboxConfig c = PodTest::PodConfig(name);
    c.mutable_linux()->set_cgroup_parent(cgroup_parent_);
    return c;
  }
  grpc::Status RunPodIn(const std::string& name, std::string* id) {
    grpc::ClientContext ctx;
    v1::RunPodSandboxRequest req;
    *req.mutable_config() = PodConfig(name);
    v1::RunPodSandboxResponse resp;
    grpc::Status s = daemon().runtime().RunPodSandbox(&ctx, req, &resp);
    *id = resp.pod_sandbox_id();
    return s;
  }
  std::vector<v1::PodSandbox> Pods() {
    grpc::ClientContext ctx;
    v1::ListPodSandboxResponse resp;
    EXPECT_TRUE(daemon().runtime().ListPodSandbox(&ctx, {}, &resp).ok());
    return {resp.items().begin(), resp.items().end()};
  }
  std::vector<v1::Container> Containers() {
    grpc::ClientContext ctx;
    v1::ListContainersResponse resp;
    EXPECT_TRUE(daemon().runtime().ListContainers(&ctx, {}, &resp).ok());
    return {resp.containers().begin(), resp.containers().end()};
  }
  v1::PodSandboxState PodState(const std::string& id) {
    grpc::ClientContext ctx;
    v1::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(id);
    v1::PodSandboxStatusResponse resp;
    EXPECT_TRUE(daemon().runtime().PodSandboxStatus(&ctx, req, &resp).ok());
    return resp.status().state();
  }
  grpc::Status Pull() {
    grpc::ClientContext ctx;
    v1::PullImageRequest req;
    req.mutable_image()->set_image(images().Ref("busybox:latest"));
    v1::PullImageResponse resp;
    return daemon().images().PullImage(&ctx, req, &resp);
  }
  grpc::Status RemoveImage() {
    grpc::ClientContext ctx;
    v1::RemoveImageRequest req;
    req.mutable_image()->set_image(images().Ref("busybox:latest"));
    v1::RemoveImageResponse resp;
    return daemon().images().RemoveImage(&ctx, req, &resp);
  }
  grpc::Status CreateIn(const std::string& pod, const std::string& name,
                        std::vector<std::string> cmd, std::string* id) {
    return Create(pod, Config(name, std::move(cmd)), id, "p");
  }

  // Sleeps of this test carry this marker in their arguments, so the host
  // can be searched for them.
  std::string Marker(int n) const { return absl::StrCat(4700 + n); }
  int CountProcesses() {
    int n = 0;
    for (const HostProcess& p : HostProcesses()) {
      bool shim =
          p.command_line.find("cradle-shim") != std::string::npos &&
          p.command_line.find(daemon().state() + "/") != std::string::npos;
      bool ours = p.command_line.rfind("sleep 47", 0) == 0;
      if (shim || ours) ++n;
    }
    return n;
  }
  // Containers runc and crun still keep state for, under the daemon's.
  int RuntimeStateDirs() {
    return CountEntries(daemon().state() + "/runc") +
           CountEntries(daemon().state() + "/crun");
  }
  HostFootprint Footprint() {
    HostFootprint f;
    f.mounts = CountMountsBelow(daemon().dir());
    f.veths = CountEntries("/sys/class/net/" + network_.bridge() + "/brif");
    f.ips = CountReservations(network_.dir() + "/ipam");
    f.runc = RuntimeStateDirs();
    f.cgroups = CountCgroupsBelow(cgroup_parent_);
    f.pod_dirs = CountEntries(daemon().state() + "/pods");
    f.processes = CountProcesses();
    return f;
  }
  // Polls (bounded) until the footprint is `want`: exits and cgroup
  // removals land a moment after the calls that caused them return.
  HostFootprint SettlesTo(const HostFootprint& want) {
    HostFootprint now = Footprint();
    for (int i = 0; i < 100 && !(now == want); ++i) {
      usleep(50 * 1000);
      now = Footprint();
    }
    return now;
  }
  // Every pod and container listed is in a state of its machine, and all
  // of them stop and remove.
  void RemoveEverything() {
    for (const v1::Container& c : Containers()) {
      EXPECT_TRUE(c.state() == v1::CONTAINER_CREATED ||
                  c.state() == v1::CONTAINER_RUNNING ||
                  c.state() == v1::CONTAINER_EXITED)
          << c.id() << " is " << v1::ContainerState_Name(c.state());
      grpc::Status s = StopC(c.id(), 0);
      EXPECT_TRUE(s.ok()) << "stop " << c.id() << ": " << s.error_message();
      s = RemoveC(c.id());
      EXPECT_TRUE(s.ok()) << "remove " << c.id() << ": " << s.error_message();
    }
    for (const v1::PodSandbox& p : Pods()) {
      grpc::Status s = StopPod(p.id());
      EXPECT_TRUE(s.ok()) << "stop pod " << p.id() << ": " << s.error_message();
      s = RemovePod(p.id());
      EXPECT_TRUE(s.ok()) << "remove pod " << p.id() << ": "
                          << s.error_message();
      EXPECT_FALSE(fs::exists("/sys/fs/cgroup/memory/cradle-shims/" +
                              p.id().substr(0, 12)))
          << "the shim's cgroup goes with the pod";
    }
    EXPECT_TRUE(Pods().empty());
    EXPECT_TRUE(Containers().empty());
  }

  std::string cgroup_parent_;
};

// ---------------------------------------------------------------------------
// The daemon killed at each failpoint in turn.

class FailpointTest : public RecoveryTest,
                      public ::testing::WithParamInterface<const char*> {};

TEST_P(FailpointTest, KilledDaemonRestartsWithEverythingListedAndRemovable) {
  const std::string point = GetParam();
  HostFootprint clean = Footprint();
  bool pull_point = point.rfind("PullImage.", 0) == 0;
  if (pull_point) {
    ASSERT_TRUE(RemoveImage().ok());
  }
  ASSERT_TRUE(daemon().Stop().ok());
  daemon().set_env({absl::StrCat(failpoint::kEnv, "=", point)});
  ASSERT_TRUE(daemon().Restart().ok());

  // One pod's life, until the daemon dies at the armed point.
  auto life = [&]() -> grpc::Status {
    if (pull_point) {
      if (grpc::Status s = Pull(); !s.ok()) return s;
    }
    std::string pod, c1, c2;
    if (grpc::Status s = RunPodIn("fp", &pod); !s.ok()) return s;
    if (grpc::Status s = CreateIn(pod, "one", {"sleep", Marker(1)}, &c1);
        !s.ok())
      return s;
    if (grpc::Status s = Start(c1); !s.ok()) return s;
    if (grpc::Status s = StopC(c1, 2); !s.ok()) return s;
    if (grpc::Status s = RemoveC(c1); !s.ok()) return s;
    if (grpc::Status s = CreateIn(pod, "two", {"sleep", Marker(2)}, &c2);
        !s.ok())
      return s;
    if (grpc::Status s = Start(c2); !s.ok()) return s;
    if (grpc::Status s = StopPod(pod); !s.ok()) return s;
    return RemovePod(pod);
  };
  grpc::Status last = life();
  ASSERT_FALSE(last.ok()) << "the failpoint " << point << " was never reached";
  EXPECT_EQ(last.error_code(), grpc::StatusCode::UNAVAILABLE)
      << last.error_message();
  ASSERT_TRUE(daemon().WaitDied(SIGKILL)) << daemon().Log();
  EXPECT_THAT(daemon().Log(), HasSubstr("failpoint " + point));

  daemon().set_env({});
  ASSERT_TRUE(daemon().Restart().ok());
  for (const v1::PodSandbox& p : Pods()) {
    if (point.rfind("RunPodSandbox.", 0) == 0) {  // never answered
      EXPECT_EQ(p.state(), v1::SANDBOX_NOTREADY)
          << "a pod whose RunPodSandbox never answered is not ready";
    }
  }
  RemoveEverything();
  HostFootprint left = SettlesTo(clean);
  EXPECT_EQ(left, clean) << "leaked after " << point << "\n" << daemon().Log();

  // The image store is whole: the image pulls and runs.
  ASSERT_TRUE(Pull().ok());
  std::string pod, c;
  ASSERT_TRUE(RunPodIn("after", &pod).ok());
  ASSERT_TRUE(CreateIn(pod, "after", {"true"}, &c).ok());
  ASSERT_TRUE(Start(c).ok());
  EXPECT_EQ(WaitExited(c).exit_code(), 0);
  ASSERT_TRUE(RemovePod(pod).ok());
}

INSTANTIATE_TEST_SUITE_P(EveryPoint, FailpointTest,
                         ::testing::ValuesIn(failpoint::kAll),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

// ---------------------------------------------------------------------------
// Shims that stop answering or die.

pid_t ShimOf(Daemon& d, const std::string& pod) {
  return FindHostProcess(
      absl::StrCat("--socket ", d.state(), "/s/", pod.substr(0, 24)));
}

// Whether `needle` runs on the host as a live (not zombie) process.
bool Alive(const std::string& needle) {
  for (const HostProcess& p : HostProcesses()) {
    if (p.command_line != needle) continue;
    std::string stat = ReadFile(absl::StrCat("/proc/", p.pid, "/stat"));
    size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() &&
        stat[paren + 2] != 'Z') {
      return true;
    }
  }
  return false;
}

TEST_F(RecoveryTest, AStoppedShimLeavesTheContainerRunningAndStopStillKills) {
  HostFootprint clean = Footprint();
  std::string pod, c;
  ASSERT_TRUE(RunPodIn("slow", &pod).ok());
  ASSERT_TRUE(CreateIn(pod, "app", {"sleep", Marker(10)}, &c).ok());
  ASSERT_TRUE(Start(c).ok());
  pid_t shim = ShimOf(daemon(), pod);
  ASSERT_GT(shim, 0);
  ASSERT_EQ(kill(shim, SIGSTOP), 0);
  // Status calls answer while the shim cannot, and never call it exited.
  for (int i = 0; i < 5; ++i) {
    v1::ContainerStatus st;
    ASSERT_TRUE(Status(c, &st).ok());
    EXPECT_NE(st.state(), v1::CONTAINER_EXITED);
  }
  EXPECT_EQ(PodState(pod), v1::SANDBOX_READY);
  // Stop must really end the process though the shim cannot do it.
  grpc::Status stopped = StopC(c, 0);
  EXPECT_TRUE(stopped.ok()) << stopped.error_message();
  EXPECT_FALSE(Alive("sleep " + Marker(10)))
      << "StopContainer returned with the container still running";
  ASSERT_EQ(kill(shim, SIGCONT), 0);
  v1::ContainerStatus st = WaitExited(c);
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(st.exit_code(), 137) << "the shim records the kill once it runs";
  RemoveEverything();
  EXPECT_EQ(SettlesTo(clean), clean) << daemon().Log();
}

TEST_F(RecoveryTest, AKilledShimIsCleanedUpAndRecordedExitsAreKept) {
  HostFootprint clean = Footprint();
  std::string pod, running, done;
  ASSERT_TRUE(RunPodIn("dead", &pod).ok());
  ASSERT_TRUE(CreateIn(pod, "done", {"sh", "-c", "exit 3"}, &done).ok());
  ASSERT_TRUE(Start(done).ok());
  ASSERT_EQ(WaitExited(done).exit_code(), 3);
  ASSERT_TRUE(CreateIn(pod, "run", {"sleep", Marker(11)}, &running).ok());
  ASSERT_TRUE(Start(running).ok());
  pid_t shim = ShimOf(daemon(), pod);
  ASSERT_GT(shim, 0);
  ASSERT_EQ(kill(shim, SIGKILL), 0);

  v1::ContainerStatus st = WaitExited(running);
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(st.exit_code(), 255);
  EXPECT_EQ(st.reason(), "Unknown");
  EXPECT_FALSE(Alive("sleep " + Marker(11)))
      << "what the dead shim ran is killed before its rootfs goes";
  ASSERT_TRUE(Status(done, &st).ok());
  EXPECT_EQ(st.exit_code(), 3) << "a recorded exit survives its shim";
  EXPECT_EQ(PodState(pod), v1::SANDBOX_NOTREADY);
  // The runtime's delete --force comes after the exit is recorded: it waits
  // for the host's init to reap the orphans.
  int runc_left = RuntimeStateDirs();
  for (int i = 0; i < 200 && runc_left > 0; ++i) {
    usleep(50 * 1000);
    runc_left = RuntimeStateDirs();
  }
  EXPECT_EQ(runc_left, 0) << "the runtime's state goes with the dead shim";
  RemoveEverything();
  EXPECT_EQ(SettlesTo(clean), clean) << daemon().Log();
}

TEST_F(RecoveryTest, ADaemonRestartedAfterItsShimDiedFindsTheExit) {
  HostFootprint clean = Footprint();
  std::string pod, c;
  ASSERT_TRUE(RunPodIn("gone", &pod).ok());
  ASSERT_TRUE(CreateIn(pod, "app", {"sleep", Marker(12)}, &c).ok());
  ASSERT_TRUE(Start(c).ok());
  ASSERT_TRUE(daemon().Stop(SIGKILL).ok());
  pid_t shim = ShimOf(daemon(), pod);
  ASSERT_GT(shim, 0);
  ASSERT_EQ(kill(shim, SIGKILL), 0);
  ASSERT_TRUE(daemon().Restart().ok());
  v1::ContainerStatus st;
  ASSERT_TRUE(Status(c, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED) << "reconciled at start";
  EXPECT_EQ(PodState(pod), v1::SANDBOX_NOTREADY);
  EXPECT_FALSE(Alive("sleep " + Marker(12)));
  EXPECT_THAT(daemon().Log(), HasSubstr("shim is dead"));
  RemoveEverything();
  EXPECT_EQ(SettlesTo(clean), clean) << daemon().Log();
}

TEST_F(RecoveryTest, AfterARebootPodsAreNotReadyRemovableAndTheirIpsFree) {
  HostFootprint clean = Footprint();
  std::string pod, c;
  ASSERT_TRUE(RunPodIn("reboot", &pod).ok());
  ASSERT_TRUE(CreateIn(pod, "app", {"sleep", Marker(13)}, &c).ok());
  ASSERT_TRUE(Start(c).ok());
  ASSERT_EQ(CountReservations(network_.dir() + "/ipam"), clean.ips + 1);
  // The node goes down: daemon, shims and containers die, the state dir
  // (tmpfs) and the namespaces go; the root dir and the IPAM store stay.
  ASSERT_TRUE(daemon().Stop(SIGKILL).ok());
  KillShimsAndContainers(daemon().state());
  UnmountBelow(daemon().state());
  std::error_code ec;
  fs::remove_all(daemon().state(), ec);
  ASSERT_TRUE(daemon().Restart().ok());

  EXPECT_EQ(PodState(pod), v1::SANDBOX_NOTREADY);
  v1::ContainerStatus st;
  ASSERT_TRUE(Status(c, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(CountReservations(network_.dir() + "/ipam"), clean.ips)
      << "CNI DEL ran from the cached ADD with the namespace gone";
  RemoveEverything();
  EXPECT_EQ(SettlesTo(clean), clean) << daemon().Log();
}

TEST_F(RecoveryTest, WhenAnInitExitsInASharedPidNamespaceItsChildrenGo) {
  std::string pod, c;
  ASSERT_TRUE(RunPodIn("pidns", &pod).ok());
  // The child outlives its parent unless the runtime ends it.
  ASSERT_TRUE(CreateIn(pod, "app",
                       {"sh", "-c",
                        "sleep " + Marker(14) +
                            " & while [ ! -e /proc/$!/stat ]; "
                            "do :; done; exit 4"},
                       &c)
                  .ok());
  ASSERT_TRUE(Start(c).ok());
  EXPECT_EQ(WaitExited(c).exit_code(), 4);
  bool alive = true;
  for (int i = 0; i < 100 && (alive = Alive("sleep " + Marker(14))); ++i) {
    usleep(50 * 1000);
  }
  EXPECT_FALSE(alive) << "the container's other processes are killed";
  RemoveEverything();
}

TEST_F(RecoveryTest, APodAtItsPidsLimitCannotStarveItsShim) {
  // The kubelet puts the pod's limits on its cgroup parent.
  std::string pids = "/sys/fs/cgroup/pids" + cgroup_parent_;
  std::error_code ec;
  fs::create_directories(pids, ec);
  std::ofstream(pids + "/pids.max") << "16";
  std::string pod, c;
  ASSERT_TRUE(RunPodIn("forky", &pod).ok());
  ASSERT_TRUE(CreateIn(pod, "app", {"sleep", Marker(15)}, &c).ok());
  ASSERT_TRUE(Start(c).ok());
  // Forks until the pod is full; the shell dies of it, its sleeps stay.
  v1::ExecSyncResponse out;
  (void)Exec(c, {"sh", "-c", "while :; do sleep " + Marker(16) + " & done"},
             &out);
  // The exec'd shell freed its own slot when it died.
  int current = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      absl::StripAsciiWhitespace(ReadFile(pids + "/pids.current")), &current));
  ASSERT_GE(current, 15) << "the pod is at its limit";
  pid_t shim = ShimOf(daemon(), pod);
  ASSERT_GT(shim, 0);
  EXPECT_THAT(ReadFile(absl::StrCat("/proc/", shim, "/cgroup")),
              Not(HasSubstr(cgroup_parent_)))
      << "the shim is not charged to the pod";
  v1::ContainerStatus st;
  ASSERT_TRUE(Status(c, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_RUNNING);
  // Calls that need a thread in the shim still work.
  grpc::Status stopped = StopC(c, 0);
  EXPECT_TRUE(stopped.ok()) << stopped.error_message();
  EXPECT_EQ(WaitExited(c).state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(kill(shim, 0), 0) << "the shim survived its pod's pressure";
  RemoveEverything();
  EXPECT_FALSE(Alive("sleep " + Marker(16)));
}

// ---------------------------------------------------------------------------
// Thirty lifecycles leave the host and the daemon as they found them.

int CountDaemonEntries(pid_t pid, const char* what) {
  return CountEntries(absl::StrCat("/proc/", pid, "/", what));
}

TEST_F(RecoveryTest, ThirtyLifecyclesLeakNothing) {
  auto lifecycle = [&](int n) {
    std::string pod, c;
    ASSERT_TRUE(RunPodIn(absl::StrCat("soak", n), &pod).ok());
    ASSERT_TRUE(CreateIn(pod, "app", {"sleep", Marker(20)}, &c).ok());
    ASSERT_TRUE(Start(c).ok());
    v1::ExecSyncResponse out;
    ASSERT_TRUE(Exec(c, {"true"}, &out).ok());
    if (n == 0) {
      // The counters see a live pod: a leak check that cannot see is none.
      HostFootprint live = Footprint();
      EXPECT_GE(live.mounts, 4) << live;  // net, uts, ipc pins, shm, rootfs
      EXPECT_EQ(live.veths, 1) << live;
      EXPECT_EQ(live.ips, 1) << live;
      EXPECT_GE(live.runc, 2) << live;  // pause and the container
      EXPECT_GE(live.cgroups, 2) << live;
      EXPECT_EQ(live.pod_dirs, 1) << live;
      EXPECT_GE(live.processes, 2) << live;  // shim and sleep
    }
    ASSERT_TRUE(StopC(c, 0).ok());
    ASSERT_TRUE(RemoveC(c).ok());
    ASSERT_TRUE(StopPod(pod).ok());
    ASSERT_TRUE(RemovePod(pod).ok());
  };
  // One warm-up: gRPC and the daemon's pools start lazily.
  lifecycle(0);
  HostFootprint start = SettlesTo(Footprint());
  pid_t d = daemon().pid();
  int fds = CountDaemonEntries(d, "fd");
  int threads = CountDaemonEntries(d, "task");
  for (int n = 1; n <= 30; ++n) {
    lifecycle(n);
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(SettlesTo(start), start);
  int fds_now = CountDaemonEntries(d, "fd");
  int threads_now = CountDaemonEntries(d, "task");
  for (int i = 0; i < 100 && (fds_now != fds || threads_now > threads); ++i) {
    usleep(50 * 1000);
    fds_now = CountDaemonEntries(d, "fd");
    threads_now = CountDaemonEntries(d, "task");
  }
  EXPECT_EQ(fds_now, fds) << "daemon file descriptors";
  EXPECT_LE(threads_now, threads) << "daemon threads";
}

}  // namespace
}  // namespace cradle::e2e
