#include "process/process.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace cradle {
namespace {

using ::testing::HasSubstr;

SpawnOptions Argv(std::vector<std::string> argv) {
  SpawnOptions o;
  o.argv = std::move(argv);
  return o;
}

TEST(ProcessTest, RunCapturesOutputAndExitCode) {
  absl::StatusOr<RunResult> r = RunAndCapture(
      Argv({"sh", "-c", "cat; echo out; echo err >&2; exit 3"}), "in:");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "in:out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->status.exit_code, 3);
  EXPECT_FALSE(r->status.ok());
  EXPECT_FALSE(r->timed_out);
}

TEST(ProcessTest, TimeoutKills) {
  absl::StatusOr<RunResult> r =
      RunAndCapture(Argv({"sleep", "30"}), "", absl::Milliseconds(200));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->status.signal, SIGKILL);
}

TEST(ProcessTest, DaemonFdsDoNotLeakEvenWithoutCloexec) {
  // An fd opened without O_CLOEXEC (as a careless library might) must still
  // not reach the child.
  int null_fd = open("/dev/null", O_RDONLY);
  ASSERT_GE(null_fd, 0);
  // Far from the fds the child legitimately has (ls opens its own as 3).
  int leaky = dup2(null_fd, 100);
  close(null_fd);
  ASSERT_EQ(leaky, 100);
  absl::StatusOr<RunResult> r =
      RunAndCapture(Argv({"sh", "-c", "ls /proc/self/fd"}));
  close(leaky);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->out, ::testing::Not(HasSubstr(std::to_string(leaky) + "\n")))
      << r->out;
}

TEST(ProcessTest, ExtraFdsArriveInOrder) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  SpawnOptions o = Argv({"sh", "-c", "echo hello >&3"});
  o.extra_fds = {p[1]};
  absl::StatusOr<RunResult> r = RunAndCapture(o);
  close(p[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  char buf[16] = {};
  ASSERT_EQ(read(p[0], buf, sizeof(buf)), 6);
  close(p[0]);
  EXPECT_STREQ(buf, "hello\n");
}

TEST(ProcessTest, MissingProgramIsNotFound) {
  EXPECT_EQ(RunAndCapture(Argv({"/nonexistent/prog"})).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(RunAndCapture(Argv({"no-such-program-anywhere"})).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ProcessTest, EnvironmentAndCwd) {
  SpawnOptions o = Argv({"sh", "-c", "echo $FOO; pwd"});
  o.env = std::vector<std::string>{"FOO=bar", "PATH=/usr/bin:/bin"};
  o.cwd = "/tmp";
  absl::StatusOr<RunResult> r = RunAndCapture(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "bar\n/tmp\n");
}

TEST(ProcessTest, InheritedEnvironmentLeavesOutNotifySocket) {
  // cradled under a Type=notify unit has NOTIFY_SOCKET; runc must not.
  setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  setenv("CRADLE_INHERITED", "yes", 1);
  absl::StatusOr<RunResult> r = RunAndCapture(Argv({"env"}));
  unsetenv("NOTIFY_SOCKET");
  unsetenv("CRADLE_INHERITED");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->out, HasSubstr("CRADLE_INHERITED=yes\n"));
  EXPECT_THAT(r->out, ::testing::Not(HasSubstr("NOTIFY_SOCKET")));
}

}  // namespace
}  // namespace cradle
