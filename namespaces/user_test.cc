#include "namespaces/user.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "process/process.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

class UserNamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-userns-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const char* n : {"user", "net", "ipc", "uts"})
      (void)RemovePinnedNamespace(dir_ + "/" + n);
    fs::remove_all(dir_);
  }
  std::string Run(std::vector<std::string> argv) {
    absl::StatusOr<RunResult> r = RunAndCapture(SpawnOptions{argv});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->out : "";
  }
  // The user namespace that owns the pinned namespace at `path`, as an
  // inode number (ioctl NS_GET_USERNS via lsns is not on every machine;
  // nsenter's view of /proc/self/ns/user is).
  std::string UserNsOf(const std::string& flag) {
    return Run({"nsenter", flag, "--user=" + dir_ + "/user", "readlink",
                "/proc/self/ns/user"});
  }
  std::string dir_;
};

TEST_F(UserNamespaceTest, MapsAndOwnedNamespacesArePinned) {
  UserNamespaceMaps maps{{{0, 200000, 65536}}, {{0, 300000, 65536}}};
  ASSERT_TRUE(
      CreatePinnedUserNamespace(dir_ + "/user", maps,
                                {{NamespaceKind::kNetwork, dir_ + "/net"},
                                 {NamespaceKind::kUts, dir_ + "/uts"},
                                 {NamespaceKind::kIpc, dir_ + "/ipc"}},
                                "in-pod")
          .ok());
  for (const char* n : {"user", "net", "ipc", "uts"})
    EXPECT_TRUE(IsPinnedNamespace(dir_ + "/" + n)) << n;
  // Inside, the maps read back as written.
  std::string uid_map =
      Run({"nsenter", "--user=" + dir_ + "/user", "cat", "/proc/self/uid_map"});
  EXPECT_EQ(uid_map.substr(uid_map.find_first_not_of(' ')),
            std::string("0     200000      65536\n"))
      << uid_map;
  std::string gid_map =
      Run({"nsenter", "--user=" + dir_ + "/user", "cat", "/proc/self/gid_map"});
  EXPECT_NE(gid_map.find("300000"), std::string::npos) << gid_map;
  // Root of the pod's user namespace may change its own network: the
  // network namespace is owned by it (a host-owned one refuses, EPERM).
  absl::StatusOr<RunResult> up = RunAndCapture(SpawnOptions{
      {"nsenter", "--user=" + dir_ + "/user", "--net=" + dir_ + "/net", "ip",
       "link", "set", "lo", "up"}});
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_TRUE(up->status.ok()) << up->err;
  EXPECT_EQ(Run({"nsenter", "--uts=" + dir_ + "/uts", "hostname"}), "in-pod\n");
}

TEST_F(UserNamespaceTest, BadMapsAreInvalidArgumentAndPinNothing) {
  const UserNamespaceMaps bad[] = {
      {{}, {{0, 1000, 1}}},
      {{{0, 1000, 0}}, {{0, 1000, 1}}},
      {{{0, 4294967295u, 2}}, {{0, 1000, 1}}},
      {{{0, 1000, 10}, {5, 5000, 10}}, {{0, 1000, 1}}},
      {{{0, 1000, 10}, {100, 1005, 10}}, {{0, 1000, 1}}},
      {{{0, 0, 65536}}, {{0, 1000, 1}}},
  };
  for (const UserNamespaceMaps& maps : bad) {
    absl::Status s = CreatePinnedUserNamespace(
        dir_ + "/user", maps, {{NamespaceKind::kNetwork, dir_ + "/net"}});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_FALSE(fs::exists(dir_ + "/user"));
    EXPECT_FALSE(fs::exists(dir_ + "/net"));
  }
}

TEST_F(UserNamespaceTest, InsideIdsFollowTheRanges) {
  std::vector<IdRange> ranges{{0, 100000, 1000}, {5000, 900000, 10}};
  EXPECT_EQ(InsideId(ranges, 100000), 0u);
  EXPECT_EQ(InsideId(ranges, 100999), 999u);
  EXPECT_EQ(InsideId(ranges, 900009), 5009u);
  EXPECT_FALSE(InsideId(ranges, 101000).has_value());
  EXPECT_FALSE(InsideId(ranges, 0).has_value());
  EXPECT_EQ(HostId(ranges, 0), 100000u);
  EXPECT_EQ(HostId(ranges, 5009), 900009u);
  EXPECT_FALSE(HostId(ranges, 1000).has_value());
  EXPECT_EQ(MapText(ranges), "0 100000 1000\n5000 900000 10\n");
  std::optional<std::vector<IdRange>> parsed =
      ParseMapText("         0     100000       1000\n      5000 900000 10\n");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(MapText(*parsed), MapText(ranges));
  EXPECT_FALSE(ParseMapText("0 1\n").has_value());
  EXPECT_FALSE(ParseMapText("0 -1 5\n").has_value());
}

}  // namespace
}  // namespace cradle
