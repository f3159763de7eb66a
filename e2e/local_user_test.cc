// Local users are untrusted: nothing below cradled's root and state may be
// read by them, and no file in an unpacked layer (a setuid binary, a device
// node) may be reachable by path. Containers running as non-root users
// still reach everything of their own.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "e2e/harness/pod_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cradle::e2e {
namespace {

constexpr uid_t kNobody = 65534;

struct Entry {
  std::string rel;  // relative to its base (root or state)
  bool dir = false;
  int depth = 0;  // 1 for a direct child of the base
};

// Every entry below `base`, as root sees it.
std::vector<Entry> Walk(const std::string& base) {
  std::vector<Entry> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(
      base, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    Entry e;
    e.rel = fs::relative(it->path(), base, ec).string();
    e.dir = it->is_directory(ec) && !it->is_symlink(ec);
    e.depth = it.depth() + 1;
    out.push_back(e);
  }
  return out;
}

// What an unprivileged user can do with each entry, asked from a child that
// drops to nobody. Paths resolve from an fd of `base` opened by root, so the
// answer does not depend on the test's own (private) temporary directory.
// Returns, per entry: 0 nothing, 1 reachable (stat), 2 readable (open).
std::vector<char> AccessAsNobody(const std::string& base,
                                 const std::vector<Entry>& entries) {
  int dir = open(base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  EXPECT_GE(dir, 0) << base;
  int report[2];
  EXPECT_EQ(pipe(report), 0);
  std::vector<char> result(entries.size(), 0);
  pid_t pid = fork();
  if (pid == 0) {
    // Only system calls from here on: the parent has threads.
    close(report[0]);
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 ||
        setuid(kNobody) != 0) {
      _exit(2);
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      const char* rel = entries[i].rel.c_str();
      struct stat st;
      char r = 0;
      if (fstatat(dir, rel, &st, AT_SYMLINK_NOFOLLOW) == 0) r = 1;
      int flags = O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC |
                  (entries[i].dir ? O_DIRECTORY : 0);
      if (r == 1 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
        int fd = openat(dir, rel, flags);
        if (fd >= 0) {
          r = 2;
          close(fd);
        }
      }
      if (write(report[1], &r, 1) != 1) _exit(3);
    }
    _exit(0);
  }
  close(report[1]);
  size_t got = 0;
  while (got < result.size()) {
    ssize_t n = read(report[0], result.data() + got, result.size() - got);
    if (n <= 0) break;
    got += n;
  }
  close(report[0]);
  close(dir);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(got, result.size());
  return result;
}

class LocalUserTest : public PodTest {
 protected:
  LocalUserTest() : PodTest(91) {}
};

TEST_F(LocalUserTest, NothingBelowRootOrStateIsOpenToOtherUsers) {
  // A pod with a running container whose spec carries a secret, a log,
  // and an image unpacked into snapshots: everything worth reading.
  std::string pod = RunPod("private");
  ASSERT_FALSE(pod.empty());
  v1::ContainerConfig c = Config("holder", {"sleep", "300"});
  v1::KeyValue* env = c.add_envs();
  env->set_key("API_TOKEN");
  env->set_value("secret-token-value");
  std::string id = RunContainer(pod, c);
  ASSERT_FALSE(id.empty());

  size_t checked = 0;
  for (const std::string& base : {daemon().root(), daemon().state()}) {
    std::vector<Entry> entries = Walk(base);
    ASSERT_FALSE(entries.empty()) << base;
    std::vector<char> access = AccessAsNobody(base, entries);
    ASSERT_EQ(access.size(), entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      const Entry& e = entries[i];
      // Root and state themselves are 0711 (as containerd keeps them), so
      // their direct children can be named, but never read.
      EXPECT_NE(access[i], 2) << base << "/" << e.rel << " is readable";
      if (e.depth > 1) {
        EXPECT_EQ(access[i], 0) << base << "/" << e.rel << " is reachable";
      }
    }
    checked += entries.size();
  }
  // The walk saw the bundle with the secret and the unpacked busybox.
  EXPECT_GT(checked, 100u);
  bool bundle_seen = false;
  for (const Entry& e : Walk(daemon().state()))
    bundle_seen |= e.rel.find(id) != std::string::npos &&
                   fs::path(e.rel).filename() == "config.json";
  EXPECT_TRUE(bundle_seen);
}

TEST_F(LocalUserTest, NonRootContainerStillReachesItsOwnFiles) {
  std::string pod = RunPod("nonroot");
  ASSERT_FALSE(pod.empty());
  v1::ContainerConfig c = Config(
      "reader", {"sh", "-c",
                 "cat /etc/resolv.conf /etc/hostname /etc/hosts >/dev/null && "
                 "ls / /bin >/dev/null && touch /dev/shm/x && echo ok"});
  c.mutable_linux()->mutable_security_context()->mutable_run_as_user()->set_value(
      1000);
  std::string id = RunContainer(pod, c);
  ASSERT_FALSE(id.empty());
  v1::ContainerStatus st = WaitExited(id);
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(st.exit_code(), 0) << ReadFile(st.log_path());
  EXPECT_THAT(ReadFile(st.log_path()), testing::HasSubstr("ok"));
}

}  // namespace
}  // namespace cradle::e2e
