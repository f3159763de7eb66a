#include "cri/runtime/checkpoint_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "nlohmann/json.hpp"

namespace cradle {
namespace {

namespace fs = std::filesystem;

// Entry name -> content (empty for directories and links).
std::map<std::string, std::string> ReadTar(const std::string& path) {
  std::map<std::string, std::string> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 10240), ARCHIVE_OK)
      << path;
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string data(archive_entry_size(e), '\0');
    if (!data.empty()) archive_read_data(a, data.data(), data.size());
    out[archive_entry_pathname(e)] = data;
  }
  archive_read_free(a);
  return out;
}

void Write(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << data;
}

class CheckpointArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::string(getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    // What runc checkpoint leaves: CRIU's images, its log and stats.
    files_.criu_images_dir = root_ + "/images";
    files_.work_dir = root_ + "/work";
    Write(files_.criu_images_dir + "/inventory.img", "inv");
    Write(files_.criu_images_dir + "/pages-1.img", std::string(100000, 'p'));
    Write(files_.work_dir + "/dump.log", "(00.01) dumped\n");
    Write(files_.work_dir + "/stats-dump", "stats");
    files_.config_dump = R"({"id":"c1"})";
    files_.spec_dump = R"({"ociVersion":"1.0.2"})";
    files_.upper_dir = root_ + "/upper";
    Write(files_.upper_dir + "/data/new.txt", "new");
    fs::create_symlink("new.txt", files_.upper_dir + "/data/link");
    location_ = root_ + "/out/checkpoint.tar";
    fs::create_directories(root_ + "/out");
  }
  std::string root_;
  std::string location_;
  CheckpointFiles files_;
};

TEST_F(CheckpointArchiveTest, WritesTheSharedLayout) {
  // A whiteout: the container deleted /etc/motd from the image.
  fs::create_directories(files_.upper_dir + "/etc");
  bool whiteout = mknod((files_.upper_dir + "/etc/motd").c_str(),
                        S_IFCHR | 0600, makedev(0, 0)) == 0;
  ASSERT_TRUE(WriteCheckpointArchive(files_, location_).ok());
  std::map<std::string, std::string> tar = ReadTar(location_);
  EXPECT_EQ(tar["checkpoint/inventory.img"], "inv");
  EXPECT_EQ(tar["checkpoint/pages-1.img"].size(), 100000u);
  EXPECT_EQ(tar["config.dump"], R"({"id":"c1"})");
  EXPECT_EQ(tar["spec.dump"], R"({"ociVersion":"1.0.2"})");
  EXPECT_EQ(tar["dump.log"], "(00.01) dumped\n");
  EXPECT_EQ(tar["stats-dump"], "stats");
  ASSERT_TRUE(tar.count("rootfs-diff.tar"));
  std::string diff = root_ + "/diff.tar";
  std::ofstream(diff) << tar["rootfs-diff.tar"];
  std::map<std::string, std::string> rootfs = ReadTar(diff);
  EXPECT_EQ(rootfs["data/new.txt"], "new");
  EXPECT_TRUE(rootfs.count("data/link"));
  EXPECT_FALSE(rootfs.count("etc/motd")) << "a whiteout is no file";
  if (whiteout) {
    EXPECT_EQ(nlohmann::json::parse(tar["deleted.files"]),
              nlohmann::json({"/etc/motd"}));
  } else {
    EXPECT_FALSE(tar.count("deleted.files"));
  }
  // Nothing else is left beside the archive.
  EXPECT_EQ(std::distance(fs::directory_iterator(root_ + "/out"),
                          fs::directory_iterator()),
            1);
}

TEST_F(CheckpointArchiveTest, NoUpperDirNoDiffAndNoDeletedFiles) {
  files_.upper_dir.clear();
  ASSERT_TRUE(WriteCheckpointArchive(files_, location_).ok());
  std::map<std::string, std::string> tar = ReadTar(location_);
  EXPECT_FALSE(tar.count("rootfs-diff.tar"));
  EXPECT_FALSE(tar.count("deleted.files"));
  EXPECT_TRUE(tar.count("checkpoint/inventory.img"));
}

TEST_F(CheckpointArchiveTest, FailureLeavesNothingBehind) {
  files_.criu_images_dir = root_ + "/missing";
  absl::Status s = WriteCheckpointArchive(files_, location_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s;
  EXPECT_TRUE(fs::is_empty(root_ + "/out")) << "no archive, no temporary";
}

// Files in /proc/sys say size 0 and yet read as text: a file that grew
// between lstat and the copy, every time. libarchive takes none of the
// excess; the copy must stop at the declared size rather than spin.
TEST_F(CheckpointArchiveTest, GrowingFileIsCutToItsDeclaredSize) {
  files_.criu_images_dir = "/proc/sys/kernel/random";
  struct stat st;
  if (lstat((files_.criu_images_dir + "/boot_id").c_str(), &st) != 0 ||
      st.st_size != 0) {
    GTEST_SKIP() << "no /proc/sys/kernel/random/boot_id of size 0 here";
  }
  absl::Status s = WriteCheckpointArchive(files_, location_);
  ASSERT_TRUE(s.ok()) << s;
  std::map<std::string, std::string> tar = ReadTar(location_);
  ASSERT_TRUE(tar.count("checkpoint/boot_id"));
  EXPECT_EQ(tar["checkpoint/boot_id"], "");
  // The entries after it are intact.
  EXPECT_EQ(tar["config.dump"], R"({"id":"c1"})");
  EXPECT_EQ(tar["dump.log"], "(00.01) dumped\n");
}

// sysfs files say 4096 bytes and hold a few: a file that shrank. Zeros
// fill the entry up to its declared size.
TEST_F(CheckpointArchiveTest, ShrunkFileIsPaddedToItsDeclaredSize) {
  files_.criu_images_dir = "/sys/kernel/mm/ksm";
  struct stat st;
  if (lstat((files_.criu_images_dir + "/run").c_str(), &st) != 0 ||
      st.st_size != 4096) {
    GTEST_SKIP() << "no /sys/kernel/mm/ksm/run of size 4096 here";
  }
  absl::Status s = WriteCheckpointArchive(files_, location_);
  ASSERT_TRUE(s.ok()) << s;
  std::map<std::string, std::string> tar = ReadTar(location_);
  const std::string& run = tar["checkpoint/run"];
  ASSERT_EQ(run.size(), 4096u);
  size_t newline = run.find('\n');
  ASSERT_NE(newline, std::string::npos);
  EXPECT_EQ(run.find_first_not_of('\0', newline + 1), std::string::npos);
  EXPECT_EQ(tar["config.dump"], R"({"id":"c1"})");
}

// /proc/self/fd lists the fd the directory walk itself reads through,
// gone once the walk is done: an entry that vanished before its lstat.
TEST_F(CheckpointArchiveTest, VanishedEntriesAreSkipped) {
  files_.criu_images_dir = "/proc/self/fd";
  absl::Status s = WriteCheckpointArchive(files_, location_);
  ASSERT_TRUE(s.ok()) << s;
  std::map<std::string, std::string> tar = ReadTar(location_);
  EXPECT_TRUE(tar.count("checkpoint/0"));
  EXPECT_EQ(tar["config.dump"], R"({"id":"c1"})");
}

TEST_F(CheckpointArchiveTest, NonUtf8NamesDoNotThrow) {
  // Image layers can carry any bytes in a name; JSON strings cannot.
  std::string bad = "caf\xe9-\xff";
  bool whiteout = mknod((files_.upper_dir + "/" + bad).c_str(), S_IFCHR | 0600,
                        makedev(0, 0)) == 0;
  if (!whiteout) GTEST_SKIP() << "cannot make a whiteout here";
  Write(files_.upper_dir + "/new-" + bad, "data");
  Write(files_.upper_dir + "/caf\u00e9", "text");  // valid UTF-8
  absl::Status s = WriteCheckpointArchive(files_, location_);
  ASSERT_TRUE(s.ok()) << s;
  std::map<std::string, std::string> tar = ReadTar(location_);
  nlohmann::json deleted = nlohmann::json::parse(tar["deleted.files"]);
  ASSERT_EQ(deleted.size(), 1u);
  // Invalid bytes become U+FFFD, as Go's encoder writes them.
  EXPECT_EQ(deleted[0], "/caf\uFFFD-\uFFFD");
  std::string diff = root_ + "/diff.tar";
  std::ofstream(diff) << tar["rootfs-diff.tar"];
  std::map<std::string, std::string> rootfs = ReadTar(diff);
  EXPECT_EQ(rootfs["new-" + bad], "data") << "its raw name kept";
  EXPECT_EQ(rootfs["caf\u00e9"], "text");
}

TEST(CheckpointConfigDumpTest, NonUtf8FieldsDoNotThrow) {
  CriContainer c;
  c.id = "abc";
  c.name = std::string("w\xff") + "b";
  c.image_name = "img\xc3";
  nlohmann::json j = nlohmann::json::parse(
      CheckpointConfigDump(c, "runc", absl::FromUnixSeconds(60)));
  EXPECT_EQ(j["name"], "w\uFFFDb");
  EXPECT_EQ(j["id"], "abc");
}

TEST(CheckpointConfigDumpTest, NamesTheContainerAndItsImage) {
  CriContainer c;
  c.id = "abc";
  c.name = "web";
  c.image_id = "sha256:1";
  c.image_name = "busybox:latest";
  c.image_ref = "busybox@sha256:2";
  c.created_at = absl::FromUnixSeconds(0);
  nlohmann::json j = nlohmann::json::parse(
      CheckpointConfigDump(c, "runc", absl::FromUnixSeconds(60)));
  EXPECT_EQ(j["id"], "abc");
  EXPECT_EQ(j["name"], "web");
  EXPECT_EQ(j["rootfsImageName"], "busybox:latest");
  EXPECT_EQ(j["rootfsImageRef"], "busybox@sha256:2");
  EXPECT_EQ(j["runtime"], "runc");
  EXPECT_EQ(j["createdTime"], "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace cradle
