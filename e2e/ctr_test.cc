// containerd's own client against cradled: Debian's `ctr` (containerd
// 1.6) pointed at the CRI socket lists the CRI's namespace and images,
// pulls, tags, exports and imports images, runs containers with bind and
// tmpfs mounts, execs into them, gives them and their execs terminals
// sized like ctr's own (-t), reads their cgroup metrics, streams events,
// keeps its tasks across a killed daemon, and may not change what the CRI
// owns.
//
// Every check runs the real /usr/bin/ctr; no containerd is started.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "e2e/harness/pod_test.h"
#include "process/process.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;

constexpr char kCtr[] = "/usr/bin/ctr";
// Every long-running process a test starts sleeps for a number that starts
// with this, so whatever outlives a test can be found on the host.
constexpr char kSleepMarker[] = "sleep 73";

// ctr's tables: one row per line, cells split on runs of blanks, the
// header row dropped. Only the columns whose values hold no blank can be
// read by index (images' SIZE is "2.1 MiB"), so callers use the first and
// the last cells.
std::vector<std::vector<std::string>> Rows(const std::string& table) {
  std::vector<std::vector<std::string>> rows;
  bool header = true;
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    if (header) {
      header = false;
      continue;
    }
    rows.push_back(
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty()));
  }
  return rows;
}

bool HasRowStartingWith(const std::string& table, const std::string& first) {
  for (const auto& row : Rows(table)) {
    if (!row.empty() && row[0] == first) return true;
  }
  return false;
}

class CtrTest : public PodTest {
 protected:
  CtrTest() : PodTest(73) {}

  void SetUp() override {
    PodTest::SetUp();  // a daemon, and busybox pulled through the CRI
    if (HasFatalFailure()) return;
    char tmpl[] = "/tmp/cradle-ctr-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    work_ = tmpl;
    started_ = true;
  }

  void TearDown() override {
    if (started_ && daemon().pid() != 0) RemoveCtrObjects();
    PodTest::TearDown();
    // The daemon's teardown kills the shims it knows of; a ctr task the
    // test did not clean up must not outlive the test either.
    for (const HostProcess& p : HostProcesses()) {
      if (absl::StrContains(p.command_line, kSleepMarker)) {
        ADD_FAILURE() << "left running: " << p.pid << " " << p.command_line;
        kill(p.pid, SIGKILL);
      }
    }
    if (!work_.empty()) {
      UnmountBelow(work_);
      std::error_code ec;
      fs::remove_all(work_, ec);
    }
  }

  // Runs `ctr --address <socket> --namespace <ns> args...` to completion.
  RunResult Ctr(const std::vector<std::string>& args,
                const std::string& ns = "default",
                absl::Duration timeout = absl::Seconds(60)) {
    SpawnOptions o;
    o.argv = {kCtr, "--address", daemon().socket(), "--namespace", ns};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env = CtrEnv();
    absl::StatusOr<RunResult> r = RunAndCapture(o, "", timeout);
    if (!r.ok()) {
      RunResult failed;
      failed.status.exit_code = 127;
      failed.err = r.status().ToString();
      return failed;
    }
    return *std::move(r);
  }

  // Runs ctr as Ctr does, but on a pseudo-terminal of `rows` x `cols` as
  // its stdin, stdout and stderr (ctr -t takes its own terminal's size and
  // refuses to run without one). `out` is what it printed there, with the
  // terminal's "\r\n" line ends.
  RunResult CtrOnTerminal(const std::vector<std::string>& args,
                          unsigned short rows, unsigned short cols,
                          absl::Duration timeout = absl::Seconds(60)) {
    RunResult result;
    result.status.exit_code = 127;
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    char name[128];
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 ||
        ptsname_r(master, name, sizeof(name)) != 0) {
      result.err = absl::StrCat("no pty: ", strerror(errno));
      if (master >= 0) close(master);
      return result;
    }
    winsize size{};
    size.ws_row = rows;
    size.ws_col = cols;
    ioctl(master, TIOCSWINSZ, &size);
    int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
      result.err = absl::StrCat("open ", name, ": ", strerror(errno));
      close(master);
      return result;
    }
    SpawnOptions o;
    o.argv = {kCtr, "--address", daemon().socket(), "--namespace", "default"};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env = CtrEnv();
    o.stdin_fd = o.stdout_fd = o.stderr_fd = slave;
    o.new_session = true;
    o.parent_death_signal = SIGKILL;
    absl::StatusOr<pid_t> pid = Spawn(o);
    // Only ctr holds the terminal now: the master reads EIO once it exits.
    close(slave);
    if (!pid.ok()) {
      result.err = pid.status().ToString();
      close(master);
      return result;
    }
    absl::Time deadline = absl::Now() + timeout;
    bool exited = false;
    bool output_ended = false;
    char buf[4096];
    while (!(exited && output_ended)) {
      if (!exited) {
        int wait_status;
        if (waitpid(*pid, &wait_status, WNOHANG) == *pid) {
          exited = true;
          result.status = ExitStatus::FromWait(wait_status);
        }
      }
      if (absl::Now() > deadline) {
        if (!exited) {
          kill(*pid, SIGKILL);
          int wait_status;
          waitpid(*pid, &wait_status, 0);
          result.status = ExitStatus::FromWait(wait_status);
        }
        result.timed_out = true;  // or the terminal never ended
        break;
      }
      pollfd p{master, POLLIN, 0};
      if (output_ended || poll(&p, 1, 100) <= 0) {
        if (output_ended) absl::SleepFor(absl::Milliseconds(20));
        continue;
      }
      ssize_t n = read(master, buf, sizeof(buf));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        output_ended = true;  // EIO: the last holder of the terminal left
        continue;
      }
      result.out.append(buf, n);
    }
    close(master);
    return result;
  }

  // Our environment without ctr's CONTAINERD_* overrides.
  static std::vector<std::string> CtrEnv() {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (absl::StartsWith(*e, "CONTAINERD_")) continue;
      env.emplace_back(*e);
    }
    return env;
  }

  // For failure messages: the command, how it ended and what it printed.
  static std::string Show(const std::vector<std::string>& args,
                          const RunResult& r) {
    return absl::StrCat("ctr ", absl::StrJoin(args, " "), "\n  -> ",
                        r.timed_out ? "timed out" : r.status.ToString(),
                        "\n  stdout: ", r.out, "\n  stderr: ", r.err);
  }

  // Runs ctr and fails the test (non-fatally) unless it exits 0; returns
  // its stdout.
  std::string CtrOk(const std::vector<std::string>& args,
                    const std::string& ns = "default") {
    RunResult r = Ctr(args, ns);
    EXPECT_TRUE(r.status.ok() && !r.timed_out) << Show(args, r);
    return r.out;
  }

  // Runs ctr and fails the test fatally unless it exits 0 (use under
  // ASSERT_NO_FATAL_FAILURE for steps the rest of a test builds on).
  void MustCtr(const std::vector<std::string>& args,
               const std::string& ns = "default") {
    RunResult r = Ctr(args, ns);
    ASSERT_TRUE(r.status.ok() && !r.timed_out) << Show(args, r);
  }

  std::string Busybox() const { return images().Ref("busybox:latest"); }

  // `ctr images pull --plain-http` of the test busybox into `default`.
  void PullBusybox() { MustCtr({"images", "pull", "--plain-http", Busybox()}); }

  // The STATUS `ctr tasks ls` gives `id`, "" when it lists no such task.
  std::string TaskStatus(const std::string& id,
                         const std::string& ns = "default") {
    for (const auto& row : Rows(CtrOk({"tasks", "ls"}, ns))) {
      if (row.size() >= 2 && row[0] == id) return row.back();
    }
    return "";
  }
  // The PID `ctr tasks ls` gives `id`, "" when none.
  std::string TaskPid(const std::string& id) {
    for (const auto& row : Rows(CtrOk({"tasks", "ls"}))) {
      if (row.size() >= 3 && row[0] == id) return row[1];
    }
    return "";
  }
  // Polls `ctr tasks ls` (bounded) until `id` has `status`; returns the
  // last status seen.
  std::string WaitTaskStatus(const std::string& id, const std::string& status,
                             absl::Duration timeout = absl::Seconds(20)) {
    absl::Time deadline = absl::Now() + timeout;
    std::string now = TaskStatus(id);
    while (now != status && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
      now = TaskStatus(id);
    }
    return now;
  }

  // Kills, deletes and removes a container started with ctr, checking each
  // step.
  void RemoveTaskAndContainer(const std::string& id) {
    CtrOk({"tasks", "kill", "--signal", "SIGKILL", id});
    EXPECT_EQ(WaitTaskStatus(id, "STOPPED"), "STOPPED") << id;
    CtrOk({"tasks", "delete", id});
    CtrOk({"containers", "rm", id});
  }

  // What a failed test left in `default`: tasks force-deleted, containers
  // removed (no checks; the test has already reported).
  void RemoveCtrObjects() {
    for (const auto& row : Rows(Ctr({"tasks", "ls"}).out)) {
      if (!row.empty()) Ctr({"tasks", "delete", "--force", row[0]});
    }
    for (const auto& row : Rows(Ctr({"containers", "ls"}).out)) {
      if (!row.empty()) Ctr({"containers", "rm", row[0]});
    }
  }

  std::string work_;  // this test's host dir (bind sources, tarballs)
  bool started_ = false;
};

// ---------------------------------------------------------------------------
// What the CRI made, seen through containerd's API.

TEST_F(CtrTest, VersionShowsTheServerVersion) {
  grpc::ClientContext ctx;
  v1::VersionResponse cri;
  ASSERT_TRUE(daemon().runtime().Version(&ctx, {}, &cri).ok());

  std::string out = CtrOk({"version"});
  size_t server = out.find("Server:");
  ASSERT_NE(server, std::string::npos) << out;
  std::string version;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(out).substr(server), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "Version:")) {
      version = std::string(absl::StripAsciiWhitespace(line));
      break;
    }
  }
  EXPECT_EQ(version, cri.runtime_version()) << out;
}

TEST_F(CtrTest, NamespacesListTheCriNamespace) {
  std::string out = CtrOk({"namespaces", "ls"});
  EXPECT_TRUE(HasRowStartingWith(out, "k8s.io")) << out;
}

TEST_F(CtrTest, CriPulledImageIsListedInK8sNamespace) {
  std::string out = CtrOk({"images", "ls"}, "k8s.io");
  EXPECT_TRUE(HasRowStartingWith(out, Busybox())) << out;
}

TEST_F(CtrTest, PluginsListTheOverlayfsSnapshotterOk) {
  std::string out = CtrOk({"plugins", "ls"});
  bool found = false;
  for (const auto& row : Rows(out)) {
    if (row.size() >= 3 && row[0] == "io.containerd.snapshotter.v1" &&
        row[1] == "overlayfs" && row.back() == "ok") {
      found = true;
    }
  }
  EXPECT_TRUE(found) << out;
}

// ---------------------------------------------------------------------------
// Images, content and snapshots of the default namespace.

TEST_F(CtrTest, PulledImageIsListed) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  std::string out = CtrOk({"images", "ls"});
  EXPECT_TRUE(HasRowStartingWith(out, Busybox())) << out;
}

TEST_F(CtrTest, TagListsBothNames) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  const std::string tagged = images().Ref("busybox:ctr-tagged");
  CtrOk({"images", "tag", Busybox(), tagged});
  std::string out = CtrOk({"images", "ls"});
  EXPECT_TRUE(HasRowStartingWith(out, Busybox())) << out;
  EXPECT_TRUE(HasRowStartingWith(out, tagged)) << out;
}

TEST_F(CtrTest, ContentListsTheImageBlobs) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  std::string out = CtrOk({"content", "ls"});
  const std::string manifest = images().digests.at("busybox:latest");
  EXPECT_TRUE(HasRowStartingWith(out, manifest)) << out;
  for (const auto& row : Rows(out)) {
    ASSERT_FALSE(row.empty());
    EXPECT_TRUE(absl::StartsWith(row[0], "sha256:")) << out;
  }
}

TEST_F(CtrTest, SnapshotsListTheCommittedLayers) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  std::string out = CtrOk({"snapshots", "ls"});
  int committed = 0;
  for (const auto& row : Rows(out)) {
    if (row.size() >= 2 && row.back() == "Committed") ++committed;
  }
  EXPECT_GE(committed, 1) << out;
}

TEST_F(CtrTest, ExportRemoveImportBringsTheImageBack) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  const std::string tar = work_ + "/busybox.tar";
  ASSERT_NO_FATAL_FAILURE(MustCtr({"images", "export", tar, Busybox()}));
  ASSERT_TRUE(fs::exists(tar));
  EXPECT_GT(fs::file_size(tar), 0u);

  CtrOk({"images", "rm", Busybox()});
  std::string out = CtrOk({"images", "ls"});
  EXPECT_FALSE(HasRowStartingWith(out, Busybox())) << out;

  CtrOk({"images", "import", tar});
  out = CtrOk({"images", "ls"});
  EXPECT_TRUE(HasRowStartingWith(out, Busybox())) << out;
}

TEST_F(CtrTest, LeasesAreCreatedListedAndRemoved) {
  CtrOk({"leases", "create", "--id", "l1", "owner=e2e"});
  std::string out = CtrOk({"leases", "ls"});
  ASSERT_TRUE(HasRowStartingWith(out, "l1")) << out;
  EXPECT_THAT(out, HasSubstr("owner=e2e"));
  CtrOk({"leases", "rm", "l1"});
  out = CtrOk({"leases", "ls"});
  EXPECT_FALSE(HasRowStartingWith(out, "l1")) << out;
}

// The collector the CRI runs (here after its RemoveImage) must keep what a
// ctr pull unpacked in another namespace: its layers are reached only
// through containerd's gc labels and the namespace's own snapshot keys.
TEST_F(CtrTest, PulledImageSurvivesTheCrisCollection) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  runtime::v1::RemoveImageRequest req;
  req.mutable_image()->set_image(Busybox());
  runtime::v1::RemoveImageResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = daemon().images().RemoveImage(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(
      HasRowStartingWith(CtrOk({"images", "ls"}, "k8s.io"), Busybox()));

  EXPECT_TRUE(HasRowStartingWith(CtrOk({"images", "ls"}), Busybox()));
  EXPECT_FALSE(Rows(CtrOk({"snapshots", "ls"})).empty());
  // Reading the whole binary reads every byte of the unpacked layer.
  std::vector<std::string> run = {
      "run", "--rm", Busybox(), "gc1", "sh", "-c", "wc -c < /bin/busybox"};
  RunResult r = Ctr(run);
  ASSERT_TRUE(r.status.ok()) << Show(run, r);
  int64_t size = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(r.out), &size))
      << r.out;
  EXPECT_GT(size, 100000);
}

// ---------------------------------------------------------------------------
// Containers and tasks.

TEST_F(CtrTest, ContainerAndTaskLifecycle) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  // containers create reorders flags after its operands ("-c" would be
  // ctr's --config): "--" ends them. run and tasks exec do not reorder.
  ASSERT_NO_FATAL_FAILURE(MustCtr({"containers", "create", Busybox(), "c1",
                                   "--", "sh", "-c", "sleep 7301"}));
  std::string out = CtrOk({"containers", "ls"});
  ASSERT_TRUE(HasRowStartingWith(out, "c1")) << out;

  ASSERT_NO_FATAL_FAILURE(MustCtr({"tasks", "start", "-d", "c1"}));
  EXPECT_EQ(TaskStatus("c1"), "RUNNING");

  std::vector<std::string> exec = {"tasks", "exec", "--exec-id", "e1",
                                   "c1",    "echo", "inside"};
  RunResult r = Ctr(exec);
  EXPECT_TRUE(r.status.ok()) << Show(exec, r);
  EXPECT_EQ(r.out, "inside\n") << Show(exec, r);

  // pid 1 of a container ignores SIGTERM without a handler: SIGKILL.
  CtrOk({"tasks", "kill", "--signal", "SIGKILL", "c1"});
  EXPECT_EQ(WaitTaskStatus("c1", "STOPPED"), "STOPPED");
  CtrOk({"tasks", "delete", "c1"});
  EXPECT_EQ(TaskStatus("c1"), "");
  CtrOk({"containers", "rm", "c1"});
  out = CtrOk({"containers", "ls"});
  EXPECT_FALSE(HasRowStartingWith(out, "c1")) << out;
}

TEST_F(CtrTest, RunRmExitsZeroAndLeavesNoContainer) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  std::vector<std::string> args = {"run", "--rm", Busybox(), "r1", "true"};
  RunResult r = Ctr(args);
  EXPECT_TRUE(r.status.ok() && !r.timed_out) << Show(args, r);
  std::string out = CtrOk({"containers", "ls"});
  EXPECT_FALSE(HasRowStartingWith(out, "r1")) << out;
  EXPECT_EQ(TaskStatus("r1"), "");
}

TEST_F(CtrTest, RunWithBindMountWritesToTheHost) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  const std::string dir = work_ + "/bind";
  ASSERT_TRUE(fs::create_directory(dir));
  ASSERT_NO_FATAL_FAILURE(MustCtr(
      {"run", "-d", "--mount",
       absl::StrCat("type=bind,src=", dir, ",dst=/data,options=rbind:rw"),
       Busybox(), "r2", "sh", "-c", "echo hello > /data/out; sleep 7302"}));

  absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::string content = ReadFile(dir + "/out");
  while (content != "hello\n" && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
    content = ReadFile(dir + "/out");
  }
  EXPECT_EQ(content, "hello\n");
  RemoveTaskAndContainer("r2");
}

TEST_F(CtrTest, RunWithTmpfsMount) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  ASSERT_NO_FATAL_FAILURE(MustCtr(
      {"run", "-d", "--mount",
       "type=tmpfs,src=tmpfs,dst=/t,options=nosuid:nodev:size=16m", Busybox(),
       "r3", "sh", "-c", "echo in-tmpfs > /t/f; sleep 7303"}));

  // The container writes /t/f as it starts; read it back through exec.
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::string read;
  for (int i = 0; read != "in-tmpfs\n" && absl::Now() < deadline; ++i) {
    RunResult r = Ctr({"tasks", "exec", "--exec-id", absl::StrCat("cat", i),
                       "r3", "cat", "/t/f"});
    read = r.out;
    if (read != "in-tmpfs\n") absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(read, "in-tmpfs\n");

  std::vector<std::string> grep = {"tasks",  "exec",        "--exec-id",
                                   "mounts", "r3",          "grep",
                                   " /t ",   "/proc/mounts"};
  RunResult r = Ctr(grep);
  EXPECT_TRUE(r.status.ok()) << Show(grep, r);
  EXPECT_THAT(r.out, HasSubstr(" /t tmpfs ")) << Show(grep, r);
  RemoveTaskAndContainer("r3");
}

// ---------------------------------------------------------------------------
// Terminals: the container's process gets a pty whose size follows ctr's
// terminal (ResizePty), and exit codes still reach ctr.

// Until ctr's first ResizePty lands the pty is 0x0 (busybox's stty then
// prints nothing): the command waits for a size, bounded by the test's
// timeout, rather than for a fixed time.
constexpr char kPrintTerminal[] =
    "tty; while :; do s=$(stty size 2>/dev/null); "
    "case \"$s\" in [1-9]*\" \"[1-9]*) break;; esac; sleep 0.05; done; "
    "echo size=$s";

TEST_F(CtrTest, RunWithTerminalGetsAPtyOfCtrsSize) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  std::vector<std::string> args = {
      "run", "-t", "--rm", Busybox(),
      "t1",  "sh", "-c",   absl::StrCat(kPrintTerminal, "; exit 3")};
  RunResult r = CtrOnTerminal(args, 37, 111);
  EXPECT_FALSE(r.timed_out) << Show(args, r);
  EXPECT_EQ(r.status.exit_code, 3) << Show(args, r);
  EXPECT_THAT(r.out, HasSubstr("/dev/pts/")) << Show(args, r);
  EXPECT_THAT(r.out, HasSubstr("size=37 111")) << Show(args, r);
  EXPECT_FALSE(HasRowStartingWith(CtrOk({"containers", "ls"}), "t1"));
}

TEST_F(CtrTest, TasksStartOfATerminalContainerIsAttachedToIt) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  // containers create reorders its arguments: "sh -c"'s "-c" would be its
  // --config, and a "-t" before the operands shifted them (the id became
  // "--"). So the command is a bind-mounted script, the flags come last.
  const std::string script = work_ + "/print-terminal.sh";
  ASSERT_EQ(lite::WriteFileAtomic(
                script, absl::StrCat(kPrintTerminal, "\nexit 5\n"), 0644),
            0);
  ASSERT_NO_FATAL_FAILURE(MustCtr(
      {"containers", "create", Busybox(), "t2", "-t", "--mount",
       absl::StrCat("type=bind,src=", script, ",dst=/t.sh,options=rbind:ro"),
       "sh", "/t.sh"}));
  std::vector<std::string> start = {"tasks", "start", "t2"};
  RunResult r = CtrOnTerminal(start, 24, 90);
  EXPECT_FALSE(r.timed_out) << Show(start, r);
  EXPECT_EQ(r.status.exit_code, 5) << Show(start, r);
  EXPECT_THAT(r.out, HasSubstr("/dev/pts/")) << Show(start, r);
  EXPECT_THAT(r.out, HasSubstr("size=24 90")) << Show(start, r);
  // ctr deleted the task on its way out; the container stays.
  EXPECT_EQ(TaskStatus("t2"), "");
  CtrOk({"containers", "rm", "t2"});
}

TEST_F(CtrTest, ExecWithTerminalIntoTasksWithAndWithoutOne) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  ASSERT_NO_FATAL_FAILURE(
      MustCtr({"run", "-d", Busybox(), "t3", "sleep", "7305"}));
  // A detached -t task: its shell keeps running once ctr has left.
  std::vector<std::string> run_tty = {"run", "-d", "-t", Busybox(),
                                      "t4",  "sh", "-c", "sleep 7306"};
  RunResult r = CtrOnTerminal(run_tty, 24, 80);
  ASSERT_TRUE(r.status.ok() && !r.timed_out) << Show(run_tty, r);
  ASSERT_EQ(TaskStatus("t4"), "RUNNING");

  int n = 0;
  for (const char* id : {"t3", "t4"}) {
    const std::string exec_id = absl::StrCat("e", n);
    const std::string command = absl::StrCat(kPrintTerminal, "; exit ", 6 + n);
    std::vector<std::string> exec = {
        "tasks", "exec", "-t", "--exec-id", exec_id, id, "sh", "-c", command};
    r = CtrOnTerminal(exec, 30 + n, 100);
    EXPECT_FALSE(r.timed_out) << Show(exec, r);
    EXPECT_EQ(r.status.exit_code, 6 + n) << Show(exec, r);
    EXPECT_THAT(r.out, HasSubstr("/dev/pts/")) << Show(exec, r);
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("size=", 30 + n, " 100")))
        << Show(exec, r);
    ++n;
  }
  // The exec's terminal went with it: the tasks run on.
  EXPECT_EQ(TaskStatus("t3"), "RUNNING");
  EXPECT_EQ(TaskStatus("t4"), "RUNNING");
  RemoveTaskAndContainer("t3");
  RemoveTaskAndContainer("t4");
}

// ---------------------------------------------------------------------------
// Events.

// A `ctr events` in the background, its stdout in a file.
class BackgroundCtr {
 public:
  BackgroundCtr(std::vector<std::string> argv, std::vector<std::string> env,
                const std::string& out_path) {
    int out =
        open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) return;
    SpawnOptions o;
    o.argv = std::move(argv);
    o.env = std::move(env);
    o.stdout_fd = out;
    o.stderr_fd = out;
    o.parent_death_signal = SIGKILL;
    absl::StatusOr<pid_t> pid = Spawn(o);
    close(out);
    if (pid.ok()) pid_ = *pid;
  }
  ~BackgroundCtr() {
    if (pid_ == 0) return;
    kill(pid_, SIGTERM);
    (void)WaitFor(pid_);
  }
  BackgroundCtr(const BackgroundCtr&) = delete;
  BackgroundCtr& operator=(const BackgroundCtr&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = 0;
};

TEST_F(CtrTest, EventsShowTaskStartAndExit) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  const std::string log = work_ + "/events.out";
  BackgroundCtr events({kCtr, "--address", daemon().socket(), "--namespace",
                        "default", "events"},
                       CtrEnv(), log);
  ASSERT_NE(events.pid(), 0);

  // Nothing says when ctr has subscribed: run short tasks until one is
  // seen starting and exiting (the first may run before the subscription).
  auto has = [](const std::string& text, const std::string& topic,
                const std::string& id) {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::StrContains(line, topic) &&
          absl::StrContains(line, absl::StrCat("\"", id, "\""))) {
        return true;
      }
    }
    return false;
  };
  absl::Time deadline = absl::Now() + absl::Seconds(40);
  bool seen = false;
  std::string last;
  for (int i = 0; !seen && absl::Now() < deadline; ++i) {
    const std::string id = absl::StrCat("ev", i);
    std::vector<std::string> args = {"run", "--rm", Busybox(), id, "true"};
    RunResult r = Ctr(args);
    ASSERT_TRUE(r.status.ok()) << Show(args, r);
    absl::Time wait = absl::Now() + absl::Seconds(3);
    do {
      last = ReadFile(log);
      seen = has(last, "/tasks/start", id) && has(last, "/tasks/exit", id);
      if (!seen) absl::SleepFor(absl::Milliseconds(50));
    } while (!seen && absl::Now() < wait);
  }
  EXPECT_TRUE(seen) << "ctr events printed:\n" << last;
}

TEST_F(CtrTest, TaskMetricsShowMemoryUsage) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  ASSERT_NO_FATAL_FAILURE(
      MustCtr({"run", "-d", Busybox(), "m1", "sleep", "7311"}));
  ASSERT_EQ(TaskStatus("m1"), "RUNNING");

  // ctr prints "METRIC VALUE" rows decoded from the cgroup v1 message; a
  // running sleep has charged some memory and is one process.
  std::vector<std::string> args = {"tasks", "metrics", "m1"};
  RunResult r = Ctr(args);
  EXPECT_TRUE(r.status.ok() && !r.timed_out) << Show(args, r);
  uint64_t memory = 0, pids = 0;
  bool memory_row = false, pids_row = false;
  for (const auto& row : Rows(r.out)) {
    if (row.size() != 2) continue;
    if (row[0] == "memory.usage_in_bytes")
      memory_row = absl::SimpleAtoi(row[1], &memory);
    if (row[0] == "pids.current") pids_row = absl::SimpleAtoi(row[1], &pids);
  }
  EXPECT_TRUE(memory_row) << Show(args, r);
  EXPECT_GT(memory, 0u) << Show(args, r);
  EXPECT_TRUE(pids_row) << Show(args, r);
  EXPECT_GE(pids, 1u) << Show(args, r);
  RemoveTaskAndContainer("m1");
}

// ---------------------------------------------------------------------------
// Restart, and the CRI's objects.

TEST_F(CtrTest, TaskSurvivesAKilledDaemon) {
  ASSERT_NO_FATAL_FAILURE(PullBusybox());
  ASSERT_NO_FATAL_FAILURE(
      MustCtr({"run", "-d", Busybox(), "s1", "sleep", "7304"}));
  ASSERT_EQ(TaskStatus("s1"), "RUNNING");
  const std::string pid = TaskPid("s1");

  ASSERT_TRUE(daemon().Stop(SIGKILL).ok());
  ASSERT_TRUE(daemon().Restart().ok());

  EXPECT_EQ(WaitTaskStatus("s1", "RUNNING", absl::Seconds(10)), "RUNNING");
  EXPECT_EQ(TaskPid("s1"), pid) << "the same process, not a new one";
  RemoveTaskAndContainer("s1");
}

TEST_F(CtrTest, CriContainerRefusesChangesFromCtr) {
  std::string pod = RunPod("cri");
  ASSERT_FALSE(pod.empty());
  std::string id = RunContainer(pod, Config("victim", {"sleep", "7309"}));
  ASSERT_FALSE(id.empty());

  std::vector<std::string> kill_args = {"tasks", "kill", "--signal", "SIGKILL",
                                        id};
  RunResult r = Ctr(kill_args, "k8s.io");
  EXPECT_FALSE(r.status.ok()) << Show(kill_args, r);
  EXPECT_THAT(absl::AsciiStrToLower(r.err), HasSubstr("failed precondition"))
      << Show(kill_args, r);

  // ctr itself refuses to remove a container whose task runs, before
  // asking the server; a label change reaches the server's refusal.
  std::vector<std::string> rm_args = {"containers", "rm", id};
  r = Ctr(rm_args, "k8s.io");
  EXPECT_FALSE(r.status.ok()) << Show(rm_args, r);
  std::vector<std::string> label_args = {"containers", "label", id,
                                         "ctr=was-here"};
  r = Ctr(label_args, "k8s.io");
  EXPECT_FALSE(r.status.ok()) << Show(label_args, r);
  EXPECT_THAT(absl::AsciiStrToLower(r.err), HasSubstr("failed precondition"))
      << Show(label_args, r);

  // Unharmed: it still runs and answers.
  v1::ExecSyncResponse exec;
  grpc::Status s = Exec(id, {"echo", "alive"}, &exec);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(exec.stdout(), "alive\n");
  v1::ContainerStatus st;
  ASSERT_TRUE(Status(id, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_RUNNING);
  EXPECT_EQ(st.labels().count("ctr"), 0u) << "the label change was refused";

  EXPECT_TRUE(StopC(id, 0).ok());
  EXPECT_TRUE(RemoveC(id).ok());
  EXPECT_TRUE(StopPod(pod).ok());
  EXPECT_TRUE(RemovePod(pod).ok());
}

}  // namespace
}  // namespace cradle::e2e
