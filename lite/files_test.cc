#include "lite/files.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace cradle::lite {
namespace {

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::string(getenv("TEST_TMPDIR")) + "/atomic-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/f";
  }
  std::string dir_;
  std::string path_;
};

TEST_F(AtomicFileTest, WriteFileAtomicReplacesWithExactMode) {
  ASSERT_EQ(WriteFileAtomic(path_, "old"), 0);
  // A leftover temporary from a crash does not get in the way.
  ASSERT_EQ(WriteFileAtomic(path_ + ".tmp", "stale"), 0);
  mode_t old_umask = umask(077);
  EXPECT_EQ(WriteFileAtomic(path_, "new", 0644), 0);
  umask(old_umask);
  EXPECT_EQ(ReadFileOrEmpty(path_), "new");
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_NE(access((path_ + ".tmp").c_str(), F_OK), 0);
}

TEST_F(AtomicFileTest, WriteFileAtomicReportsTheErrno) {
  EXPECT_EQ(WriteFileAtomic(dir_ + "/missing/f", "x"), ENOENT);
}

TEST_F(AtomicFileTest, CommitPutsTheStreamInPlace) {
  ASSERT_EQ(WriteFileAtomic(path_, "old"), 0);
  AtomicFile file;
  ASSERT_EQ(file.Open(path_, 0640), 0);
  ASSERT_GE(file.fd(), 0);
  ASSERT_TRUE(WriteFully(file.fd(), "part one, "));
  // Not visible until committed.
  EXPECT_EQ(ReadFileOrEmpty(path_), "old");
  ASSERT_TRUE(WriteFully(file.fd(), "part two"));
  EXPECT_EQ(file.Commit(), 0);
  EXPECT_EQ(file.fd(), -1);
  EXPECT_EQ(ReadFileOrEmpty(path_), "part one, part two");
  EXPECT_NE(access((path_ + ".tmp").c_str(), F_OK), 0);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(file.Commit(), EBADF) << "only once";
}

TEST_F(AtomicFileTest, AbandonedOrDestroyedLeavesThePathAlone) {
  ASSERT_EQ(WriteFileAtomic(path_, "old"), 0);
  {
    AtomicFile file;
    ASSERT_EQ(file.Open(path_), 0);
    ASSERT_TRUE(WriteFully(file.fd(), "half"));
    file.Abandon();
    EXPECT_EQ(file.fd(), -1);
    EXPECT_NE(access((path_ + ".tmp").c_str(), F_OK), 0);
  }
  {
    AtomicFile file;  // an early return: never committed
    ASSERT_EQ(file.Open(path_), 0);
    ASSERT_TRUE(WriteFully(file.fd(), "half"));
  }
  EXPECT_EQ(ReadFileOrEmpty(path_), "old");
  EXPECT_NE(access((path_ + ".tmp").c_str(), F_OK), 0);
  // Never opened: nothing to do, nothing to remove.
  AtomicFile unopened;
  unopened.Abandon();
  EXPECT_EQ(unopened.Commit(), EBADF);
}

TEST_F(AtomicFileTest, CommitIntoAGoneDirectoryFailsAndCleansUp) {
  std::string sub = dir_ + "/sub";
  ASSERT_EQ(MakeDirs(sub), 0);
  AtomicFile file;
  ASSERT_EQ(file.Open(sub + "/f"), 0);
  // The temporary is unlinked by hand: the rename then has nothing to move.
  ASSERT_EQ(unlink((sub + "/f.tmp").c_str()), 0);
  EXPECT_EQ(file.Commit(), ENOENT);
  EXPECT_NE(access((sub + "/f").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace cradle::lite
