// cradled under systemd's notify protocol (k8s/systemd/cradle.service is
// Type=notify): the test plays systemd's part with its own NOTIFY_SOCKET.
// READY=1 must come only once the CRI socket answers, STOPPING=1 as soon as
// SIGTERM starts the shutdown, and both from cradled's own pid.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cri/api/runtime/v1/cri.h"
#include "e2e/harness/daemon.h"
#include "lite/files.h"
#include "process/process.h"

namespace cradle::e2e {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// Generous: the ASan build starts slowly on 2 cores.
constexpr auto kStartTimeout = std::chrono::seconds(60);
constexpr auto kStopTimeout = std::chrono::seconds(30);

struct Datagram {
  std::vector<std::string> lines;  // "READY=1", "STATUS=...", ...
  pid_t sender = 0;                // from SCM_CREDENTIALS
};

class SdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-sdn-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    chmod(tmpl, 0711);
    socket_ = dir_ + "/cradle.sock";
    notify_path_ = dir_ + "/notify";
    std::ofstream(dir_ + "/config.toml")
        << absl::StrCat("root = \"", dir_, "/root\"\nstate = \"", dir_,
                        "/state\"\nlog_level = \"debug\"\n[grpc]\naddress = \"",
                        socket_, "\"\n");

    // systemd's side: a datagram socket that learns each sender's pid.
    notify_fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(notify_fd_, 0) << strerror(errno);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(notify_path_.size(), sizeof(addr.sun_path));
    strncpy(addr.sun_path, notify_path_.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(
        bind(notify_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
        << strerror(errno);
    int on = 1;
    ASSERT_EQ(setsockopt(notify_fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)),
              0);
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (HasFailure()) std::cerr << "cradled log:\n" << Log();
    if (notify_fd_ >= 0) close(notify_fd_);
    KillShimsAndContainers(dir_ + "/state");
    UnmountBelow(dir_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Launch() {
    SpawnOptions spawn;
    spawn.argv = {CradledPath(), "--config", dir_ + "/config.toml"};
    // An explicit environment: Spawn drops NOTIFY_SOCKET only from an
    // inherited one.
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.push_back("NOTIFY_SOCKET=" + notify_path_);
    spawn.env = std::move(env);
    int log = open((dir_ + "/cradled.log").c_str(),
                   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ASSERT_GE(log, 0);
    spawn.stdout_fd = log;
    spawn.stderr_fd = log;
    spawn.parent_death_signal = SIGKILL;
    absl::StatusOr<pid_t> pid = Spawn(spawn);
    close(log);
    ASSERT_TRUE(pid.ok()) << pid.status();
    pid_ = *pid;
  }

  // The next datagram, waiting until `deadline`; nullopt on timeout or when
  // cradled has exited with nothing queued.
  std::optional<Datagram> Receive(Clock::time_point deadline) {
    while (Clock::now() < deadline) {
      pollfd p{notify_fd_, POLLIN, 0};
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                Clock::now())
              .count());
      // Short slices so that a daemon dying at start ends the wait.
      int ready = poll(&p, 1, std::max(1, std::min(left, 100)));
      if (ready > 0) return Read();
      if (ready < 0 && errno != EINTR) return std::nullopt;
      if (Exited()) return std::nullopt;
    }
    return std::nullopt;
  }

  // Waits for the daemon's exit; its wait status, or nullopt on timeout.
  std::optional<int> WaitExit(Clock::time_point deadline) {
    while (Clock::now() < deadline) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = 0;
        return status;
      }
      // Nothing to poll on for a child's exit; a short bounded pause.
      usleep(10 * 1000);
    }
    return std::nullopt;
  }

  std::string Log() const {
    return lite::ReadFileOrEmpty(dir_ + "/cradled.log");
  }

  std::string dir_;
  std::string socket_;
  std::string notify_path_;
  int notify_fd_ = -1;
  pid_t pid_ = 0;

 private:
  Datagram Read() {
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof(buf) - 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    Datagram d;
    ssize_t n = recvmsg(notify_fd_, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return d;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
         c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        d.sender = cred.pid;
      }
    }
    d.lines = absl::StrSplit(std::string(buf, n), '\n', absl::SkipEmpty());
    return d;
  }

  bool Exited() {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    pid_ = 0;
    return true;
  }
};

TEST_F(SdNotifyTest, ReadyWhenServingStoppingOnSigtermThenCleanExit) {
  ASSERT_NO_FATAL_FAILURE(Launch());
  pid_t cradled = pid_;

  std::optional<Datagram> ready = Receive(Clock::now() + kStartTimeout);
  ASSERT_TRUE(ready.has_value()) << "no READY=1 from cradled";
  EXPECT_THAT(ready->lines, Contains("READY=1"));
  EXPECT_THAT(ready->lines, Contains("STATUS=serving CRI v1 on " + socket_));
  EXPECT_EQ(ready->sender, cradled);

  // At READY=1 the socket must already answer: one fail-fast call (no
  // wait_for_ready, no retry) on a new channel.
  auto channel = grpc::CreateChannel("unix://" + socket_,
                                     grpc::InsecureChannelCredentials());
  auto stub = runtime::v1::RuntimeService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  runtime::v1::VersionResponse version;
  grpc::Status status = stub->Version(&ctx, {}, &version);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(version.runtime_name(), "cradle");

  ASSERT_EQ(kill(cradled, SIGTERM), 0);
  std::optional<Datagram> stopping = Receive(Clock::now() + kStopTimeout);
  ASSERT_TRUE(stopping.has_value()) << "no STOPPING=1 after SIGTERM";
  EXPECT_THAT(stopping->lines, Contains("STOPPING=1"));
  EXPECT_EQ(stopping->sender, cradled);

  std::optional<int> exit = WaitExit(Clock::now() + kStopTimeout);
  ASSERT_TRUE(exit.has_value()) << "cradled did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0)
      << "wait status " << *exit;
}

// A notify socket nobody listens on (systemd gone, a stale variable) is
// logged; cradled serves all the same.
TEST(SdNotifyUnreachableTest, DaemonServesAndWarns) {
  DaemonOptions options;
  options.env = {"NOTIFY_SOCKET=/tmp/cradle-sdn-nobody-listens-here"};
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(options);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  grpc::ClientContext ctx;
  runtime::v1::VersionResponse version;
  EXPECT_TRUE((*daemon)->runtime().Version(&ctx, {}, &version).ok());
  // After the exit, so the warning is surely written (READY=1 may follow
  // the first answered call by a moment).
  ASSERT_TRUE((*daemon)->Stop(SIGTERM).ok());
  EXPECT_THAT((*daemon)->Log(), HasSubstr("sd_notify: "));
}

}  // namespace
}  // namespace cradle::e2e
