#include "mount/clone.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "mount/mount.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

bool CanCreate(const std::string& path) {
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  close(fd);
  unlink(path.c_str());
  return true;
}

class CloneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-clone-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // A host tree with a submount: what a hostPath volume often is.
    fs::create_directories(dir_ + "/src/sub");
    fs::create_directories(dir_ + "/copy");
    ASSERT_EQ(
        mount("tmpfs", (dir_ + "/src/sub").c_str(), "tmpfs", 0, "size=1m"), 0)
        << strerror(errno);
  }
  void TearDown() override {
    (void)UnmountBelow(dir_);
    fs::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(CloneTest, RecursiveReadOnlyReachesSubmountsAndLeavesTheSourceAlone) {
  ASSERT_TRUE(CanCreate(dir_ + "/src/sub/before"));
  CloneOptions options;
  options.recursive_readonly = true;
  ASSERT_TRUE(MountClone(dir_ + "/src", dir_ + "/copy", options).ok());
  // A plain "ro" bind leaves the submount writable; this does not.
  EXPECT_FALSE(CanCreate(dir_ + "/copy/top"));
  EXPECT_EQ(errno, EROFS);
  EXPECT_FALSE(CanCreate(dir_ + "/copy/sub/file"));
  EXPECT_EQ(errno, EROFS);
  EXPECT_TRUE(CanCreate(dir_ + "/src/top"));
  EXPECT_TRUE(CanCreate(dir_ + "/src/sub/file"));
}

// A removal trusts MountsBelow to find what is mounted: a link or a
// doubled slash in the path asked about must not hide anything.
TEST_F(CloneTest, MountsBelowFindsMountsWhateverThePathsSpelling) {
  fs::create_symlink(dir_, dir_ + "-link");
  std::vector<std::string> found = MountsBelow(dir_ + "-link//src/");
  fs::remove(dir_ + "-link");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], fs::canonical(dir_).string() + "/src/sub");
}

TEST_F(CloneTest, AMissingSourceIsAnErrorAndMountsNothing) {
  CloneOptions options;
  options.recursive_readonly = true;
  absl::Status s = MountClone(dir_ + "/absent", dir_ + "/copy", options);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("absent"), std::string::npos) << s;
  EXPECT_TRUE(MountsBelow(dir_ + "/copy").empty());
}

TEST_F(CloneTest, ABadUserNamespaceFdIsRefusedBeforeAnythingIsAttached) {
  CloneOptions options;
  options.userns_fd = open("/", O_RDONLY | O_CLOEXEC);  // not a user ns
  ASSERT_GE(options.userns_fd, 0);
  absl::Status s = MountClone(dir_ + "/src", dir_ + "/copy", options);
  close(options.userns_fd);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(MountsBelow(dir_ + "/copy").empty());
}

}  // namespace
}  // namespace cradle
