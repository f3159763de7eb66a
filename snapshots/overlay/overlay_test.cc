// The overlay snapshotter on real directories and real overlay mounts.
#include "snapshots/overlay/overlay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "mount/mount.h"
#include "snapshots/apply/apply.h"
#include "snapshots/testing/tar_builder.h"

namespace cradle {
namespace {

using testing::MakeTar;
using testing::TarEntry;
namespace fs = std::filesystem;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class OverlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-overlay-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Reopen();
  }
  void TearDown() override {
    (void)UnmountAll(dir_ + "/merged");
    snapshotter_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    snapshotter_.reset();
    absl::StatusOr<std::unique_ptr<OverlaySnapshotter>> s =
        OpenOverlaySnapshotter(dir_ + "/overlayfs");
    ASSERT_TRUE(s.ok()) << s.status();
    snapshotter_ = *std::move(s);
  }
  // Prepare, apply, commit: one image layer.
  void Layer(const std::string& name, const std::string& parent,
             const std::vector<TarEntry>& entries) {
    std::string key = "extract-" + name;
    ASSERT_TRUE(snapshotter_->Prepare(key, parent, {}).ok());
    absl::StatusOr<DirectApplier::Target> target =
        snapshotter_->ApplyTarget(key);
    ASSERT_TRUE(target.ok()) << target.status();
    int fd = testing::TempFd(MakeTar(entries));
    absl::StatusOr<ApplyResult> r = ApplyLayer(fd, *target);
    close(fd);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(snapshotter_->Commit(name, key, {}).ok());
  }
  std::string dir_;
  std::unique_ptr<OverlaySnapshotter> snapshotter_;
};

TEST_F(OverlayTest, ThreeLayerChainMergesWithWhiteoutsAndOpaqueDirs) {
  Layer("l1", "",
        {{"etc", 'd'},
         {"etc/os", 'f', "base"},
         {"etc/gone", 'f', "x"},
         {"opaque", 'd'},
         {"opaque/old", 'f', "old"}});
  Layer("l2", "l1",
        {{"etc", 'd'},
         {"etc/os", 'f', "updated"},
         {"data", 'd'},
         {"data/a", 'f', "a"}});
  Layer("l3", "l2",
        {{"etc", 'd'},
         {"etc/.wh.gone", 'f'},
         {"opaque", 'd'},
         {"opaque/.wh..wh..opq", 'f'},
         {"opaque/new", 'f', "new"}});

  absl::StatusOr<std::vector<Mount>> mounts =
      snapshotter_->Prepare("container", "l3", {});
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  ASSERT_EQ(mounts->size(), 1u);
  EXPECT_EQ((*mounts)[0].type, "overlay");
  std::string merged = dir_ + "/merged";
  fs::create_directories(merged);
  ASSERT_TRUE(MountAll(*mounts, merged).ok());
  EXPECT_EQ(Read(merged + "/etc/os"), "updated");
  EXPECT_FALSE(fs::exists(merged + "/etc/gone"));
  EXPECT_FALSE(fs::exists(merged + "/opaque/old"));
  EXPECT_EQ(Read(merged + "/opaque/new"), "new");
  EXPECT_EQ(Read(merged + "/data/a"), "a");
  // Writes go to the container's own upper dir, not to the image.
  std::ofstream(merged + "/etc/os") << "changed";
  ASSERT_TRUE(UnmountAll(merged).ok());
  absl::StatusOr<std::vector<Mount>> view =
      snapshotter_->View("look", "l3", {});
  ASSERT_TRUE(MountAll(*view, merged).ok());
  EXPECT_EQ(Read(merged + "/etc/os"), "updated");
  ASSERT_TRUE(UnmountAll(merged).ok());
}

TEST_F(OverlayTest, LifecycleRulesAndPersistence) {
  Layer("base", "", {{"f", 'f', "x"}});
  EXPECT_EQ(snapshotter_->Prepare("a", "missing", {}).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(snapshotter_->Prepare("a", "base", {{"k", "v"}}).ok());
  EXPECT_EQ(snapshotter_->Prepare("a", "base", {}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(snapshotter_->Prepare("b", "a", {}).status().code(),
            absl::StatusCode::kFailedPrecondition);  // an active parent
  EXPECT_EQ(snapshotter_->Remove("base").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(snapshotter_->Commit("base", "a", {}).code(),
            absl::StatusCode::kAlreadyExists);

  Reopen();  // records survive a restart
  absl::StatusOr<SnapshotInfo> info = snapshotter_->Stat("a");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->parent, "base");
  EXPECT_EQ(info->kind, SnapshotKind::kActive);
  EXPECT_EQ(info->labels.at("k"), "v");
  absl::StatusOr<SnapshotUsage> usage = snapshotter_->Usage("base");
  ASSERT_TRUE(usage.ok());
  EXPECT_GE(usage->inodes, 2);
  ASSERT_TRUE(snapshotter_->Remove("a").ok());
  ASSERT_TRUE(snapshotter_->Remove("base").ok());
  int count = 0;
  ASSERT_TRUE(snapshotter_
                  ->Walk([&](const SnapshotInfo&) {
                    ++count;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(count, 0);
  // Nothing is left on disk but the records database.
  EXPECT_TRUE(fs::is_empty(dir_ + "/overlayfs/snapshots"));
}

TEST_F(OverlayTest, ACrashLeftoverDirWithoutRecordIsRemovedOnOpen) {
  fs::create_directories(dir_ + "/overlayfs/snapshots/new-99/fs");
  fs::create_directories(dir_ + "/overlayfs/snapshots/42/fs");
  Reopen();
  EXPECT_TRUE(fs::is_empty(dir_ + "/overlayfs/snapshots"));
}

TEST_F(OverlayTest, SingleParentViewIsAReadOnlyBind) {
  Layer("only", "", {{"f", 'f', "x"}});
  absl::StatusOr<std::vector<Mount>> view = snapshotter_->View("v", "only", {});
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->size(), 1u);
  EXPECT_EQ((*view)[0].type, "bind");
  EXPECT_THAT((*view)[0].options, ::testing::Contains("ro"));
}

}  // namespace
}  // namespace cradle
