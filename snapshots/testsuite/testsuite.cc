#include "snapshots/testsuite/testsuite.h"

#include <gmock/gmock.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "mount/mount.h"
#include "snapshots/apply/apply.h"

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

}  // namespace

void SnapshotterSuite::SetUp() {
  char tmpl[] = "/tmp/cradle-snap-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  fs::create_directories(dir_ + "/merged");
  Reopen();
}

void SnapshotterSuite::TearDown() {
  (void)UnmountAll(dir_ + "/merged");
  s_ = {};
  fs::remove_all(dir_);
}

void SnapshotterSuite::Reopen() {
  s_ = {};
  absl::StatusOr<SnapshotterUnderTest> s = GetParam().open(dir_ + "/root");
  ASSERT_TRUE(s.ok()) << s.status();
  s_ = *std::move(s);
}

void SnapshotterSuite::Layer(const std::string& name, const std::string& parent,
                             const std::vector<TarEntry>& entries) {
  std::string key = "extract-" + name;
  ASSERT_TRUE(snapshotter().Prepare(key, parent, {}).ok());
  absl::StatusOr<DirectApplier::Target> target = s_.applier->ApplyTarget(key);
  ASSERT_TRUE(target.ok()) << target.status();
  int fd = testing::TempFd(MakeTar(entries));
  absl::StatusOr<ApplyResult> r = ApplyLayer(fd, *target);
  close(fd);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(snapshotter().Commit(name, key, {}).ok());
}

TEST_P(SnapshotterSuite, ThreeLayerChainMergesWithWhiteoutsAndOpaqueDirs) {
  Layer("l1", "",
        {{"etc", 'd'},
         {"etc/os", 'f', "base"},
         {"etc/gone", 'f', "x"},
         {"opaque", 'd'},
         {"opaque/old", 'f', "old"},
         {"hl", 'f', "linked"},
         {"hl2", 'h', "hl"}});
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
      snapshotter().Prepare("container", "l3", {});
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  std::string merged = dir_ + "/merged";
  ASSERT_TRUE(MountAll(*mounts, merged).ok());
  EXPECT_EQ(Read(merged + "/etc/os"), "updated");
  EXPECT_FALSE(fs::exists(merged + "/etc/gone"));
  EXPECT_FALSE(fs::exists(merged + "/opaque/old"));
  EXPECT_EQ(Read(merged + "/opaque/new"), "new");
  EXPECT_EQ(Read(merged + "/data/a"), "a");
  EXPECT_EQ(fs::hard_link_count(merged + "/hl"), 2u);
  // Writes go to the container's snapshot, never to the image's.
  std::ofstream(merged + "/etc/os") << "changed";
  ASSERT_TRUE(UnmountAll(merged).ok());
  absl::StatusOr<std::vector<Mount>> view =
      snapshotter().View("look", "l3", {});
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(MountAll(*view, merged).ok());
  EXPECT_EQ(Read(merged + "/etc/os"), "updated");
  EXPECT_FALSE(fs::exists(merged + "/etc/gone"));
  EXPECT_NE(::access((merged + "/etc/os").c_str(), W_OK) == 0 &&
                std::ofstream(merged + "/etc/os", std::ios::app).good(),
            true)
      << "a view is read-only";
  ASSERT_TRUE(UnmountAll(merged).ok());
}

TEST_P(SnapshotterSuite, LifecycleRulesAndPersistence) {
  Layer("base", "", {{"f", 'f', "x"}});
  EXPECT_EQ(snapshotter().Prepare("a", "missing", {}).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(snapshotter().Prepare("a", "base", {{"k", "v"}}).ok());
  EXPECT_EQ(snapshotter().Prepare("a", "base", {}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(snapshotter().Prepare("b", "a", {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(snapshotter().Remove("base").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(snapshotter().Commit("base", "a", {}).code(),
            absl::StatusCode::kAlreadyExists);

  Reopen();
  absl::StatusOr<SnapshotInfo> info = snapshotter().Stat("a");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->parent, "base");
  EXPECT_EQ(info->kind, SnapshotKind::kActive);
  EXPECT_EQ(info->labels.at("k"), "v");
  absl::StatusOr<SnapshotUsage> usage = snapshotter().Usage("base");
  ASSERT_TRUE(usage.ok());
  EXPECT_GE(usage->inodes, 2);
  ASSERT_TRUE(snapshotter().Remove("a").ok());
  ASSERT_TRUE(snapshotter().Remove("base").ok());
  int count = 0;
  ASSERT_TRUE(snapshotter()
                  .Walk([&](const SnapshotInfo&) {
                    ++count;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(count, 0);
  EXPECT_TRUE(fs::is_empty(dir_ + "/root/snapshots"));
}

TEST_P(SnapshotterSuite, ACrashLeftoverDirWithoutRecordIsRemovedOnOpen) {
  fs::create_directories(dir_ + "/root/snapshots/new-99/fs");
  fs::create_directories(dir_ + "/root/snapshots/42/fs");
  Reopen();
  EXPECT_TRUE(fs::is_empty(dir_ + "/root/snapshots"));
}

TEST_P(SnapshotterSuite, LongChainsMount) {
  // Past one page of absolute overlay lowerdirs.
  std::string parent;
  for (int i = 0; i < 90; ++i) {
    std::string name = absl::StrCat("layer", i);
    Layer(name, parent, {{absl::StrCat("file", i), 'f', absl::StrCat(i)}});
    parent = name;
  }
  absl::StatusOr<std::vector<Mount>> mounts =
      snapshotter().Prepare("tall", parent, {});
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  ASSERT_TRUE(MountAll(*mounts, dir_ + "/merged").ok());
  EXPECT_EQ(Read(dir_ + "/merged/file0"), "0");
  EXPECT_EQ(Read(dir_ + "/merged/file89"), "89");
  ASSERT_TRUE(UnmountAll(dir_ + "/merged").ok());
}

TEST_P(SnapshotterSuite, SharedParentsAreNotCopiedIntoCommittedLayers) {
  Layer("base", "", {{"shared", 'f', "s"}});
  Layer("left", "base", {{"l", 'f', "l"}});
  Layer("right", "base", {{"r", 'f', "r"}});
  absl::StatusOr<std::vector<Mount>> m = snapshotter().View("v", "right", {});
  ASSERT_TRUE(MountAll(*m, dir_ + "/merged").ok());
  EXPECT_TRUE(fs::exists(dir_ + "/merged/shared"));
  EXPECT_TRUE(fs::exists(dir_ + "/merged/r"));
  EXPECT_FALSE(fs::exists(dir_ + "/merged/l"));
  ASSERT_TRUE(UnmountAll(dir_ + "/merged").ok());
}

}  // namespace cradle
