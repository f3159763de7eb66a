// Runs the real cradle-shim over the real runc with busybox containers.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "process/process.h"
#include "shim/client/shim_client.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-shim-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ShimLaunchOptions o;
    o.binary = fs::absolute("shim/cradle-shim");
    o.socket = dir_ + "/shim.sock";
    o.state_dir = dir_ + "/state";
    o.runc_root = dir_ + "/runc";
    o.log_file = dir_ + "/shim.log";
    absl::StatusOr<std::unique_ptr<ShimClient>> shim = ShimClient::Launch(o);
    ASSERT_TRUE(shim.ok()) << shim.status();
    shim_ = std::move(*shim);
    absl::StatusOr<int> pid = shim_->ShimPid();
    ASSERT_TRUE(pid.ok());
    shim_pid_ = *pid;
    rootfs_ = dir_ + "/rootfs";
    fs::create_directories(rootfs_ + "/bin");
    fs::copy_file("/bin/busybox", rootfs_ + "/bin/busybox");
    absl::StatusOr<RunResult> applets =
        RunAndCapture(SpawnOptions{{"/bin/busybox", "--list"}});
    ASSERT_TRUE(applets.ok());
    for (absl::string_view applet :
         absl::StrSplit(applets->out, '\n', absl::SkipEmpty())) {
      std::error_code ec;
      fs::create_symlink("busybox", absl::StrCat(rootfs_, "/bin/", applet), ec);
    }
  }

  void TearDown() override {
    if (shim_ != nullptr) {
      absl::StatusOr<std::vector<shim::ContainerState>> all = shim_->List();
      if (all.ok()) {
        for (const auto& c : *all) {
          (void)shim_->Kill(c.id, SIGKILL, true);
          (void)shim_->Wait(c.id, absl::Seconds(10));
          (void)shim_->Delete(c.id);
        }
      }
      (void)shim_->Shutdown();
    }
    // The shim may still be closing its containers' logs: remove the dir
    // once it is gone, or the files it writes last stay behind in /tmp.
    for (int i = 0; i < 1000 && shim_pid_ > 0 && kill(shim_pid_, 0) == 0;
         ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A bundle over the shared busybox rootfs running `args`.
  std::string Bundle(const std::string& id, std::vector<std::string> args,
                     bool tty = false,
                     std::function<void(nlohmann::json&)> edit = nullptr) {
    std::string bundle = dir_ + "/" + id;
    fs::create_directories(bundle);
    SpawnOptions spec{{"runc", "spec"}};
    spec.cwd = bundle;
    EXPECT_TRUE(RunAndCapture(spec).ok());
    nlohmann::json config =
        nlohmann::json::parse(ReadFile(bundle + "/config.json"));
    config["process"]["terminal"] = tty;
    config["process"]["args"] = args;
    config["root"]["path"] = rootfs_;
    config["root"]["readonly"] = true;
    // Unique per test directory, so parallel runs never share a cgroup.
    config["linux"]["cgroupsPath"] = absl::StrCat(
        "/cradle-shim-test/", fs::path(dir_).filename().string(), "-", id);
    if (edit) edit(config);
    std::ofstream(bundle + "/config.json") << config.dump();
    return bundle;
  }

  absl::StatusOr<int> Run(const std::string& id, std::vector<std::string> args,
                          bool tty = false, bool stdin = false,
                          std::function<void(nlohmann::json&)> edit = nullptr) {
    shim::CreateRequest req;
    req.id = id;
    req.bundle = Bundle(id, args, tty, edit);
    req.tty = tty;
    req.stdin = stdin;
    req.log_path = LogPath(id);
    absl::StatusOr<int> pid = shim_->Create(req);
    if (!pid.ok()) return pid.status();
    absl::StatusOr<shim::ContainerState> started = shim_->Start(id);
    if (!started.ok()) return started.status();
    return *pid;
  }

  // Whether `ps` in `container` stops listing `command` within 5 s.
  bool SoonGone(const std::string& container, const std::string& command) {
    for (int i = 0; i < 100; ++i) {
      absl::StatusOr<ExecSyncResult> ps =
          shim_->ExecSync(container, {"ps", "-o", "args"}, absl::Seconds(10));
      if (ps.ok() && ps->stdout_data.find(command) == std::string::npos) {
        return true;
      }
      usleep(50 * 1000);
    }
    return false;
  }

  // A plain connection to the shim's socket; -1 when refused.
  int ConnectRaw() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::string path = dir_ + "/shim.sock";
    strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
        0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  std::string LogPath(const std::string& id) {
    return dir_ + "/" + id + ".log";
  }

  std::string dir_;
  std::string rootfs_;
  std::unique_ptr<ShimClient> shim_;
  int shim_pid_ = 0;
};

TEST_F(ShimTest, OutputGoesToTheCriLogAndTheExitCodeIsRecorded) {
  ASSERT_TRUE(
      Run("c1", {"sh", "-c", "echo hello; echo oops >&2; printf tail; exit 3"})
          .ok());
  absl::StatusOr<shim::ContainerState> done =
      shim_->Wait("c1", absl::Seconds(20));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->status, shim::ContainerStatus::kStopped);
  EXPECT_EQ(done->exit_code, 3);
  EXPECT_GT(done->exited_at, done->started_at);
  std::string log = ReadFile(LogPath("c1"));
  const std::string time =
      "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{9}Z";
  // stdout and stderr are separate pipes: their lines interleave in any
  // order, but each stream's own order holds.
  EXPECT_THAT(log, MatchesRegex(absl::StrCat("(", time,
                                             " (stdout F hello|stderr F oops|"
                                             "stdout F tail)\n){3}")));
  EXPECT_LT(log.find("stdout F hello"), log.find("stdout F tail"));
  EXPECT_NE(log.find("stderr F oops"), std::string::npos);
  // The exit was written down before it was reported.
  std::string recorded = ReadFile(dir_ + "/state/c1.json");
  EXPECT_THAT(recorded, HasSubstr("\"exitCode\":3"));
  ASSERT_TRUE(shim_->Delete("c1").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/state/c1.json"));
  EXPECT_EQ(shim_->State("c1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ShimTest, ExecSyncCapturesOutputAndExitCodeAndTimesOut) {
  ASSERT_TRUE(Run("c2", {"sleep", "1000"}).ok());
  absl::StatusOr<ExecSyncResult> r = shim_->ExecSync(
      "c2", {"sh", "-c", "echo out; echo err >&2; exit 4"}, absl::Seconds(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 4);
  EXPECT_EQ(r->stdout_data, "out\n");
  EXPECT_EQ(r->stderr_data, "err\n");
  EXPECT_FALSE(r->timed_out);

  absl::StatusOr<ExecSyncResult> slow =
      shim_->ExecSync("c2", {"sleep", "77"}, absl::Milliseconds(500));
  ASSERT_TRUE(slow.ok()) << slow.status();
  EXPECT_TRUE(slow->timed_out);
  // The timed-out process was killed: nothing runs `sleep 77` any more.
  EXPECT_TRUE(SoonGone("c2", "sleep 77"));

  absl::StatusOr<ExecSyncResult> missing =
      shim_->ExecSync("c2", {"/no/such/program"}, absl::Seconds(10));
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("/no/such/program"));
}

TEST_F(ShimTest, KillDeliversTheSignal) {
  // A container's init ignores signals it has no handler for.
  ASSERT_TRUE(
      Run("c3", {"sh", "-c", "trap 'exit 143' TERM; sleep 1000 & wait"}).ok());
  EXPECT_EQ(shim_->Delete("c3").status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(shim_->Kill("c3", SIGTERM).ok());
  absl::StatusOr<shim::ContainerState> done =
      shim_->Wait("c3", absl::Seconds(20));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->exit_code, 128 + SIGTERM);
  EXPECT_FALSE(done->oom_killed);
  // Killing what already exited is not an error.
  EXPECT_TRUE(shim_->Kill("c3", SIGKILL).ok());
}

TEST_F(ShimTest, AMissingEntrypointFailsCreateNamingIt) {
  absl::StatusOr<int> pid = Run("c4", {"/bin/not-there"});
  ASSERT_FALSE(pid.ok());
  EXPECT_THAT(pid.status().message(), HasSubstr("not-there"));
  EXPECT_EQ(shim_->State("c4").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ShimTest, TerminalContainersAndAttachedStdin) {
  ASSERT_TRUE(Run("tty", {"sh", "-c", "tty; stty size"}, /*tty=*/true).ok());
  ASSERT_TRUE(shim_->Wait("tty", absl::Seconds(20)).ok());
  EXPECT_THAT(ReadFile(LogPath("tty")), HasSubstr("stdout F /dev/pts/0"));

  ASSERT_TRUE(Run("cat", {"cat"}, /*tty=*/false, /*stdin=*/true).ok());
  absl::StatusOr<std::unique_ptr<ShimStream>> stream = shim_->Attach("cat");
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->SendStdin("ping\n").ok());
  ShimStream::Output out;
  ASSERT_TRUE((*stream)->Read(&out));
  EXPECT_EQ(out.kind, ShimStream::Output::kStdout);
  EXPECT_EQ(out.data, "ping\n");
  ASSERT_TRUE((*stream)->CloseStdin().ok());
  bool exited = false;
  while ((*stream)->Read(&out)) {
    if (out.kind == ShimStream::Output::kExit) {
      exited = true;
      EXPECT_EQ(out.exit_code, 0);
    }
  }
  EXPECT_TRUE(exited);
  EXPECT_THAT(ReadFile(LogPath("cat")), HasSubstr("stdout F ping"));
}

TEST_F(ShimTest, TerminalExecSeesResizes) {
  ASSERT_TRUE(Run("c5", {"sleep", "1000"}).ok());
  absl::StatusOr<std::unique_ptr<ShimStream>> stream =
      shim_->Exec({"c5", {"sh"}, /*tty=*/true, /*stdin=*/true});
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->Resize(123, 45).ok());
  ASSERT_TRUE((*stream)->SendStdin("stty size; exit 9\n").ok());
  std::string all;
  int code = -1;
  ShimStream::Output out;
  while ((*stream)->Read(&out)) {
    if (out.kind == ShimStream::Output::kStdout) all += out.data;
    if (out.kind == ShimStream::Output::kExit) code = out.exit_code;
  }
  EXPECT_THAT(all, HasSubstr("45 123"));
  EXPECT_EQ(code, 9);
}

TEST_F(ShimTest, OomKillIsReported) {
  ASSERT_TRUE(Run("oom", {"sh", "-c", "tail /dev/zero"}, false, false,
                  [](nlohmann::json& c) {
                    c["linux"]["resources"]["memory"]["limit"] = 16 << 20;
                  })
                  .ok());
  absl::StatusOr<shim::ContainerState> done =
      shim_->Wait("oom", absl::Seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->exit_code, 137);
  EXPECT_TRUE(done->oom_killed);
}

TEST_F(ShimTest, TheShimOutlivesItsClientAndExitsOnlyWhenEmpty) {
  ASSERT_TRUE(Run("c6", {"sleep", "1000"}).ok());
  shim_.reset();  // as if cradled died
  absl::StatusOr<std::unique_ptr<ShimClient>> again =
      ShimClient::Connect(dir_ + "/shim.sock");
  ASSERT_TRUE(again.ok()) << again.status();
  shim_ = std::move(*again);
  absl::StatusOr<shim::ContainerState> state = shim_->State("c6");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->status, shim::ContainerStatus::kRunning);
  EXPECT_EQ(shim_->Shutdown().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(shim_->Kill("c6", SIGKILL).ok());
  ASSERT_TRUE(shim_->Wait("c6", absl::Seconds(20)).ok());
  ASSERT_TRUE(shim_->Delete("c6").ok());
  ASSERT_TRUE(shim_->Shutdown().ok());
  for (int i = 0; i < 200 && kill(shim_pid_, 0) == 0; ++i) usleep(10 * 1000);
  EXPECT_NE(kill(shim_pid_, 0), 0) << "the shim is still running";
  shim_.reset();
}

TEST_F(ShimTest, ExitsAreStreamedAsEvents) {
  absl::StatusOr<std::unique_ptr<ShimStream>> events = shim_->Events();
  ASSERT_TRUE(events.ok()) << events.status();
  absl::StatusOr<int> pid = Run("ev", {"sh", "-c", "exit 5"});
  ASSERT_TRUE(pid.ok()) << pid.status();
  ShimStream::Output out;
  ASSERT_TRUE((*events)->Read(&out));
  ASSERT_EQ(out.kind, ShimStream::Output::kEvent);
  EXPECT_EQ(out.event.id, "ev");
  EXPECT_EQ(out.event.pid, *pid);
  EXPECT_EQ(out.event.exit_code, 5);
  EXPECT_GT(out.event.exited_at, 0);
}

TEST_F(ShimTest, AnExecWhoseClientLeavesIsKilled) {
  ASSERT_TRUE(Run("c7", {"sleep", "1000"}).ok());
  absl::StatusOr<std::unique_ptr<ShimStream>> stream =
      shim_->Exec({"c7", {"sleep", "4343"}});
  ASSERT_TRUE(stream.ok()) << stream.status();
  stream->reset();  // the connection closes without an exit
  EXPECT_TRUE(SoonGone("c7", "sleep 4343"));
}

TEST_F(ShimTest, AConnectionThatSendsNoRequestIsClosed) {
  int fd = ConnectRaw();
  ASSERT_GE(fd, 0);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 20000), 1) << "the shim kept a silent connection";
  char byte;
  EXPECT_EQ(read(fd, &byte, 1), 0);
  close(fd);
  EXPECT_TRUE(shim_->ShimPid().ok());
}

TEST_F(ShimTest, BadCallsGetClearErrors) {
  EXPECT_EQ(shim_->Exec({"nope", {"true"}}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(shim_->Exec({"", {}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(shim_->Attach("nope").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<int> empty = shim_->Create(shim::CreateRequest{});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  // A caller that does not speak the protocol is told so and nothing breaks.
  int fd = ConnectRaw();
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(
      shim::WriteFrame(fd, shim::FrameType::kRequest, R"({"method":"Nope"})")
          .ok());
  lite::StatusOr<shim::Frame> reply = shim::ReadFrame(fd);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(shim::DecodeReply(reply->payload).status().code(),
            lite::StatusCode::kUnimplemented);
  close(fd);
  EXPECT_TRUE(shim_->ShimPid().ok());
}

TEST_F(ShimTest, AStalledAttachClientDoesNotFreezeTheLog) {
  // 40000 lines of 100 bytes: far more than a socket buffer and the
  // client's backlog.
  std::string line(99, 'x');
  shim::CreateRequest req;
  req.id = "noisy";
  req.bundle = Bundle(
      "noisy", {"sh", "-c",
                absl::StrCat("yes ", line,
                             " | head -n 40000; echo done; exec sleep 1000")});
  req.log_path = LogPath("noisy");
  ASSERT_TRUE(shim_->Create(req).ok());
  // Attaches, then never reads again.
  int stalled = ConnectRaw();
  ASSERT_GE(stalled, 0);
  ASSERT_TRUE(shim::WriteFrame(stalled, shim::FrameType::kRequest,
                               R"({"method":"Attach","id":"noisy"})")
                  .ok());
  lite::StatusOr<shim::Frame> reply = shim::ReadFrame(stalled);
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(shim::DecodeReply(reply->payload).ok());
  ASSERT_TRUE(shim_->Start("noisy").ok());
  bool done = false;
  for (int i = 0; i < 600 && !done; ++i) {  // at most 60 s
    std::string log = ReadFile(LogPath("noisy"));
    done = log.find("stdout F done\n") != std::string::npos;
    if (!done) usleep(100 * 1000);
  }
  EXPECT_TRUE(done) << "the log stopped at " << fs::file_size(LogPath("noisy"))
                    << " bytes";
  // Other calls are answered meanwhile.
  EXPECT_TRUE(shim_->State("noisy").ok());
  // The stalled client was detached: what it was sent, then end of stream.
  bool detached = false;
  char buf[64 * 1024];
  for (int i = 0; i < 300 && !detached; ++i) {  // at most 30 s
    pollfd p{stalled, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    detached = read(stalled, buf, sizeof(buf)) <= 0;
  }
  EXPECT_TRUE(detached) << "the stalled client is still attached";
  close(stalled);
}

TEST_F(ShimTest, AnAttachClientThatStopsReadingIsDetachedWhenQuietToo) {
  // Less than the backlog limit, more than the socket holds: the shim's
  // send blocks, and only its deadline can end the attach.
  shim::CreateRequest req;
  req.id = "quiet";
  req.bundle = Bundle("quiet", {"sh", "-c",
                                "head -c 600000 /dev/zero | tr '\\0' x; "
                                "exec sleep 1000"});
  req.log_path = LogPath("quiet");
  ASSERT_TRUE(shim_->Create(req).ok());
  int stalled = ConnectRaw();
  ASSERT_GE(stalled, 0);
  ASSERT_TRUE(shim::WriteFrame(stalled, shim::FrameType::kRequest,
                               R"({"method":"Attach","id":"quiet"})")
                  .ok());
  lite::StatusOr<shim::Frame> reply = shim::ReadFrame(stalled);
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(shim::DecodeReply(reply->payload).ok());
  ASSERT_TRUE(shim_->Start("quiet").ok());
  // Never read: a hang-up is seen without draining what was sent.
  pollfd p{stalled, POLLRDHUP, 0};
  int ready = poll(&p, 1, 40 * 1000);
  EXPECT_EQ(ready, 1) << "the stalled client is still attached after 40 s";
  EXPECT_NE(p.revents & (POLLRDHUP | POLLHUP), 0);
  close(stalled);
}

TEST_F(ShimTest, AnAttachedClientGetsAllOutputThenTheExit) {
  shim::CreateRequest req;
  req.id = "counter";
  req.bundle = Bundle("counter", {"sh", "-c", "seq 1 20000; exit 7"});
  req.log_path = LogPath("counter");
  ASSERT_TRUE(shim_->Create(req).ok());
  int fd = ConnectRaw();
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(shim::WriteFrame(fd, shim::FrameType::kRequest,
                               R"({"method":"Attach","id":"counter"})")
                  .ok());
  lite::StatusOr<shim::Frame> reply = shim::ReadFrame(fd);
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(shim::DecodeReply(reply->payload).ok());
  ASSERT_TRUE(shim_->Start("counter").ok());
  std::string expected;
  for (int i = 1; i <= 20000; ++i) absl::StrAppend(&expected, i, "\n");
  std::string out;
  int exit_code = -1;
  bool output_after_exit = false;
  for (;;) {
    lite::StatusOr<shim::Frame> frame = shim::ReadFrame(fd);
    if (!frame.ok()) break;
    if (frame->type == shim::FrameType::kStdout) {
      output_after_exit = output_after_exit || exit_code != -1;
      out += frame->payload;
    } else if (frame->type == shim::FrameType::kExit) {
      exit_code = nlohmann::json::parse(frame->payload).value("exitCode", -1);
    }
  }
  close(fd);
  EXPECT_EQ(exit_code, 7);
  EXPECT_FALSE(output_after_exit);
  EXPECT_EQ(out.size(), expected.size());
  EXPECT_TRUE(out == expected) << "the output differs from seq's";
}

TEST_F(ShimTest, AStreamFrameTheShimCannotHandleEndsOnlyThatStream) {
  ASSERT_TRUE(Run("c8", {"sleep", "1000"}).ok());
  int fd = ConnectRaw();
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(
      shim::WriteFrame(
          fd, shim::FrameType::kRequest,
          R"({"method":"Exec","containerId":"c8","args":["sleep","99"]})")
          .ok());
  lite::StatusOr<shim::Frame> reply = shim::ReadFrame(fd);
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(shim::DecodeReply(reply->payload).ok());
  // A signal that is not a number is ignored; the next one is taken.
  ASSERT_TRUE(
      shim::WriteFrame(fd, shim::FrameType::kKill, R"({"signal":"TERM"})")
          .ok());
  ASSERT_TRUE(
      shim::WriteFrame(fd, shim::FrameType::kKill, R"({"signal":9})").ok());
  int exit_code = -1;
  for (;;) {
    lite::StatusOr<shim::Frame> frame = shim::ReadFrame(fd);
    if (!frame.ok()) break;
    if (frame->type == shim::FrameType::kExit) {
      exit_code = nlohmann::json::parse(frame->payload).value("exitCode", -1);
      break;
    }
  }
  close(fd);
  EXPECT_EQ(exit_code, 128 + SIGKILL);
  EXPECT_TRUE(shim_->ShimPid().ok()) << "the shim died";
}

}  // namespace
}  // namespace cradle
