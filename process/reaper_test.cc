#include "process/reaper.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>

#include "gtest/gtest.h"

namespace cradle {
namespace {

// The reaper must be installed before any thread starts, so this test has
// its own main.
TEST(ReaperTest, WaitForGoesThroughTheReaper) {
  lite::StatusOr<pid_t> pid = lite::Spawn({.argv = {"sh", "-c", "exit 7"}});
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  lite::StatusOr<ExitStatus> status = lite::WaitFor(*pid);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->exit_code, 7);
}

TEST(ReaperTest, CaptureStillWorks) {
  lite::StatusOr<RunResult> r =
      lite::RunAndCapture({.argv = {"sh", "-c", "echo hi; exit 3"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "hi\n");
  EXPECT_EQ(r->status.exit_code, 3);
}

TEST(ReaperTest, OrphansOfASubreaperReachTheListener) {
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  std::atomic<pid_t> orphan_seen{0};
  // The shell prints the pid of a background child, then exits at once,
  // so the child is reparented to us and exits later with 5.
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  Reaper::Get()->SetListener([&](pid_t pid, const ExitStatus& s) {
    if (s.exit_code != 5) return false;
    orphan_seen = pid;
    return true;
  });
  lite::StatusOr<pid_t> sh =
      lite::Spawn({.argv = {"sh", "-c", "(sleep 0.2; exit 5) & echo $!"},
                   .stdout_fd = out[1]});
  ASSERT_TRUE(sh.ok());
  close(out[1]);
  char buf[32] = {};
  ASSERT_GT(read(out[0], buf, sizeof(buf) - 1), 0);
  close(out[0]);
  pid_t child = atoi(buf);
  EXPECT_EQ(lite::WaitFor(*sh)->exit_code, 0);
  while (orphan_seen.load() == 0) usleep(10000);
  EXPECT_EQ(orphan_seen.load(), child);
  Reaper::Get()->SetListener(nullptr);
}

}  // namespace
}  // namespace cradle

int main(int argc, char** argv) {
  cradle::Reaper::Install();
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
