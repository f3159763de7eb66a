// On this host's real cgroups (as root): a child joins a new cgroup, is
// seen there, and the cgroup goes once the child has exited.
#include "cgroups/membership.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cradle {
namespace {

std::string CgroupOf(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/cgroup"));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Membership, JoinThenRemoveWhenEmpty) {
  const std::string path = absl::StrCat("/cradle-test/member-", getpid());
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  lite::Status joined = JoinCgroup(path, child);
  ASSERT_TRUE(joined.ok()) << joined.ToString();
  EXPECT_NE(CgroupOf(child).find(path), std::string::npos) << CgroupOf(child);
  EXPECT_EQ(RemoveCgroup(path).code(), lite::StatusCode::kFailedPrecondition)
      << "not while the child is in it";
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(RemoveCgroup(path).ok());
  EXPECT_TRUE(RemoveCgroup(path).ok()) << "idempotent";
  (void)RemoveCgroup("/cradle-test");
}

}  // namespace
}  // namespace cradle
