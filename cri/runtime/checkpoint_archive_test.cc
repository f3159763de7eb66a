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
