// Layer application on real directories (root: ownership, devices, trusted
// xattrs). Every hostile case checks that the host file an escape would
// touch is untouched.
#include "snapshots/apply/apply.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "snapshots/testing/tar_builder.h"

namespace cradle {
namespace {

using testing::Compression;
using ::testing::HasSubstr;
using testing::MakeTar;
using testing::TarEntry;
namespace fs = std::filesystem;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-apply-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ + "/root";
    outside_ = base_ + "/outside";
    fs::create_directories(root_);
    fs::create_directories(outside_);
    canary_ = outside_ + "/canary";
    std::ofstream(canary_) << "untouched";
  }
  void TearDown() override {
    EXPECT_EQ(Read(canary_), "untouched") << "a layer reached outside its root";
    struct stat st;
    ASSERT_EQ(stat(canary_.c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u) << "a layer hardlinked a host file";
    EXPECT_EQ(fs::directory_iterator(outside_)->path(), canary_);
    fs::remove_all(base_);
  }
  absl::StatusOr<ApplyResult> Apply(
      const std::vector<TarEntry>& entries,
      WhiteoutStyle style = WhiteoutStyle::kDelete,
      std::vector<std::string> lowers = {}, Compression c = Compression::kNone,
      std::string dir = "") {
    int fd = testing::TempFd(MakeTar(entries, c));
    absl::StatusOr<ApplyResult> r =
        ApplyLayer(fd, {dir.empty() ? root_ : dir, std::move(lowers), style});
    close(fd);
    return r;
  }
  std::string base_, root_, outside_, canary_;
};

TEST_F(ApplyTest, FilesDirsLinksOwnersModesXattrsAndDiffId) {
  std::vector<TarEntry> layer = {
      {"etc", 'd', "", 0755},
      {"etc/app.conf", 'f', "key=value\n", 0640, 1234, 5678},
      {"bin", 'd', "", 0755},
      {"bin/tool", 'f', "#!/bin/sh\n", 04755},
      {"bin/alias", 'l', "tool"},
      {"bin/hard", 'h', "bin/tool"},
      {"data", 'd', "", 0700, 42, 43},
      {"data/x", 'f', "x", 0600, 0, 0, 1600000000, {{"user.note", "hello"}}},
  };
  std::string tar = MakeTar(layer);
  absl::StatusOr<ApplyResult> r = Apply(layer);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->diff_id, Digest::OfBytes(tar));
  EXPECT_EQ(r->uncompressed, static_cast<int64_t>(tar.size()));

  struct stat st;
  ASSERT_EQ(stat((root_ + "/etc/app.conf").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(Read(root_ + "/etc/app.conf"), "key=value\n");
  ASSERT_EQ(stat((root_ + "/bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u) << "setuid survives the chown";
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(fs::read_symlink(root_ + "/bin/alias"), "tool");
  ASSERT_EQ(stat((root_ + "/data").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 42u);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat((root_ + "/data/x").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 1600000000);
  char value[16] = {};
  ASSERT_EQ(
      getxattr((root_ + "/data/x").c_str(), "user.note", value, sizeof(value)),
      5);
  EXPECT_STREQ(value, "hello");
}

TEST_F(ApplyTest, ALayerEndingRightAfterItsLastFileApplies) {
  std::string tar = MakeTar({{"note", 'f', "fifteen bytes.\n"}});
  // Keep the header and the data, drop the padding and the end blocks.
  tar.resize(512 + 15);
  int fd = testing::TempFd(tar);
  absl::StatusOr<ApplyResult> r =
      ApplyLayer(fd, {root_, {}, WhiteoutStyle::kDelete});
  close(fd);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Read(root_ + "/note"), "fifteen bytes.\n");
  EXPECT_EQ(r->diff_id, Digest::OfBytes(tar));

  std::string cut = MakeTar({{"big", 'f', std::string(2000, 'b')}});
  cut.resize(512 + 1000);  // cut inside the file's data
  fd = testing::TempFd(cut);
  r = ApplyLayer(fd, {root_, {}, WhiteoutStyle::kDelete});
  close(fd);
  EXPECT_FALSE(r.ok());
}

TEST_F(ApplyTest, CompressedLayersHaveTheDiffIdOfTheirTar) {
  std::vector<TarEntry> layer = {{"a", 'f', std::string(100000, 'a')}};
  Digest want = Digest::OfBytes(MakeTar(layer));
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    fs::remove_all(root_);
    fs::create_directories(root_);
    absl::StatusOr<ApplyResult> r = Apply(layer, WhiteoutStyle::kDelete, {}, c);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->diff_id, want);
    EXPECT_EQ(fs::file_size(root_ + "/a"), 100000u);
  }
}

TEST_F(ApplyTest, WhiteoutsOnAFullTreeDelete) {
  ASSERT_TRUE(Apply({{"a", 'f', "a"},
                     {"d", 'd'},
                     {"d/old", 'f', "o"},
                     {"keep", 'f', "k"}})
                  .ok());
  ASSERT_TRUE(Apply({{".wh.a", 'f'},
                     {"d", 'd'},
                     {"d/.wh..wh..opq", 'f'},
                     {"d/new", 'f', "n"}})
                  .ok());
  EXPECT_FALSE(fs::exists(root_ + "/a"));
  EXPECT_FALSE(fs::exists(root_ + "/d/old"));
  EXPECT_TRUE(fs::exists(root_ + "/d/new"));
  EXPECT_TRUE(fs::exists(root_ + "/keep"));
  EXPECT_FALSE(fs::exists(root_ + "/.wh.a"));
  EXPECT_FALSE(fs::exists(root_ + "/d/.wh..wh..opq"));
}

TEST_F(ApplyTest, WhiteoutsInOverlayFormAndCopyUp) {
  std::string lower = base_ + "/lower";
  fs::create_directories(lower);
  ASSERT_TRUE(Apply({{"a", 'f', "a"},
                     {"d", 'd', "", 0750, 7, 8},
                     {"d/old", 'f', "o"},
                     {"d/file", 'f', "lower data", 0600}},
                    WhiteoutStyle::kDelete, {}, Compression::kNone, lower)
                  .ok());
  ASSERT_TRUE(Apply({{".wh.a", 'f'},
                     {"e", 'd'},
                     {"e/.wh..wh..opq", 'f'},
                     {"d/link", 'h',
                      "d/file"}},  // parent d and target only in the lower
                    WhiteoutStyle::kOverlay, {lower})
                  .ok());
  struct stat st;
  ASSERT_EQ(lstat((root_ + "/a").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char v[4] = {};
  ASSERT_EQ(
      getxattr((root_ + "/e").c_str(), "trusted.overlay.opaque", v, sizeof(v)),
      1);
  EXPECT_EQ(v[0], 'y');
  // d was created in the upper dir with the lower's owner and mode.
  ASSERT_EQ(stat((root_ + "/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 7u);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(Read(root_ + "/d/link"), "lower data");
  ASSERT_EQ(stat((root_ + "/d/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
}

TEST_F(ApplyTest, DotDotPathsAreRefusedNamingTheEntry) {
  absl::StatusOr<ApplyResult> r = Apply({{"../outside/canary", 'f', "pwned"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("\"../outside/canary\""));
  EXPECT_EQ(Apply({{"a/../../outside/canary", 'f', "pwned"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ApplyTest, AbsolutePathsStayInsideTheRoot) {
  ASSERT_TRUE(Apply({{canary_, 'f', "pwned"}}).ok());
  EXPECT_EQ(Read(root_ + canary_), "pwned");
}

TEST_F(ApplyTest, WritesThroughSymlinksStayInsideTheRoot) {
  // A symlink to an absolute host path resolves inside the root.
  ASSERT_TRUE(
      Apply(
          {{"etc", 'd'}, {"link", 'l', "/etc"}, {"link/passwd", 'f', "inside"}})
          .ok());
  EXPECT_EQ(Read(root_ + "/etc/passwd"), "inside");
  // A relative one that climbs stops at the root.
  ASSERT_TRUE(Apply({{"deep", 'd'},
                     {"deep/up", 'l', "../../../../../../../../../etc"},
                     {"deep/up/group", 'f', "inside too"}})
                  .ok());
  EXPECT_EQ(Read(root_ + "/etc/group"), "inside too");
  // One that leads to nothing in the root is refused, naming the entry.
  absl::StatusOr<ApplyResult> r =
      Apply({{"abs", 'l', outside_}, {"abs/canary", 'f', "pwned"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("\"abs/canary\""));
  r = Apply({{"rel", 'l', "../../../../../../../../.." + outside_},
             {"rel/canary", 'f', "x"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ApplyTest, ASymlinkAtTheFinalComponentIsReplacedNotFollowed) {
  ASSERT_TRUE(Apply({{"victim", 'l', canary_}, {"victim", 'f', "pwned"}}).ok());
  EXPECT_FALSE(fs::is_symlink(root_ + "/victim"));
  EXPECT_EQ(Read(root_ + "/victim"), "pwned");
}

TEST_F(ApplyTest, HardlinksOutOfTheLayerAreRefused) {
  absl::StatusOr<ApplyResult> r = Apply({{"hl", 'h', "../outside/canary"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("\"hl\""));
  // An absolute target is looked up inside the root, where it does not exist.
  EXPECT_EQ(Apply({{"hl2", 'h', canary_}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Through a symlink that points out: still inside the root.
  EXPECT_EQ(Apply({{"out", 'l', outside_}, {"hl3", 'h', "out/canary"}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ApplyTest, OverlayXattrsInALayerAreIgnored) {
  ASSERT_TRUE(Apply({{"d",
                      'd',
                      "",
                      0755,
                      0,
                      0,
                      1,
                      {{"trusted.overlay.redirect", "/etc"}}}},
                    WhiteoutStyle::kOverlay)
                  .ok());
  char v[16];
  EXPECT_LT(getxattr((root_ + "/d").c_str(), "trusted.overlay.redirect", v,
                     sizeof(v)),
            0);
}

TEST_F(ApplyTest, GarbageIsRefused) {
  int fd = testing::TempFd(std::string(5000, '\x42'));
  absl::StatusOr<ApplyResult> r =
      ApplyLayer(fd, {root_, {}, WhiteoutStyle::kDelete});
  close(fd);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  std::string tar = MakeTar({{"big", 'f', std::string(20000, 'b')}});
  fd = testing::TempFd(tar.substr(0, 5000));  // truncated mid-file
  r = ApplyLayer(fd, {root_, {}, WhiteoutStyle::kDelete});
  close(fd);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cradle
