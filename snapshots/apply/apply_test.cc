// Layer application on real directories (root: ownership, devices, trusted
// xattrs). Every hostile case checks that the host file an escape would
// touch is untouched.
#include "snapshots/apply/apply.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "absl/cleanup/cleanup.h"
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
      std::string dir = "", const ApplyLimits& limits = {}) {
    int fd = testing::TempFd(MakeTar(entries, c));
    absl::StatusOr<ApplyResult> r = ApplyLayer(
        fd, {dir.empty() ? root_ : dir, std::move(lowers), style}, limits);
    close(fd);
    return r;
  }
  absl::StatusOr<ApplyResult> ApplyWithLimits(
      const std::vector<TarEntry>& entries, const ApplyLimits& limits,
      Compression c = Compression::kNone) {
    return Apply(entries, WhiteoutStyle::kDelete, {}, c, "", limits);
  }
  // A lower layer dir, for copy-up tests.
  std::string Lower() {
    std::string lower = base_ + "/lower";
    fs::create_directories(lower);
    return lower;
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

// cradled runs with umask 077: modes a layer gets must not depend on it.
TEST_F(ApplyTest, ModesIgnoreTheUmask) {
  mode_t old_umask = umask(077);
  absl::Cleanup restore = [old_umask] { umask(old_umask); };
  std::string lower = Lower();
  fs::create_directories(lower + "/shared");
  ASSERT_EQ(chmod((lower + "/shared").c_str(), 0775), 0);
  // No directory entries: usr, usr/bin and shared are implicit parents.
  absl::StatusOr<ApplyResult> r =
      Apply({{"usr/bin/tool", 'f', "#!/bin/sh\n", 0755},
             {"usr/bin/conf", 'f', "x", 0664},
             {"shared/f", 'f', "y", 0644},
             {"open", 'd', "", 0777}},
            WhiteoutStyle::kOverlay, {lower});
  ASSERT_TRUE(r.ok()) << r.status();
  auto mode = [&](const std::string& path) -> mode_t {
    struct stat st;
    if (lstat((root_ + "/" + path).c_str(), &st) != 0) return 01000000;
    return st.st_mode & 07777;
  };
  EXPECT_EQ(mode("usr"), 0755u);
  EXPECT_EQ(mode("usr/bin"), 0755u);
  EXPECT_EQ(mode("shared"), 0775u) << "the lower layer's mode";
  EXPECT_EQ(mode("usr/bin/tool"), 0755u);
  EXPECT_EQ(mode("usr/bin/conf"), 0664u);
  EXPECT_EQ(mode("shared/f"), 0644u);
  EXPECT_EQ(mode("open"), 0777u);
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

// Copy-up must never open a lower special file: opening a FIFO blocks the
// pull for good. The apply runs on a thread so a hang fails the test.
TEST_F(ApplyTest, AHardlinkToALowerFifoRecreatesItWithoutBlocking) {
  std::string lower = Lower();
  std::string fifo = lower + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0640), 0);
  std::promise<absl::StatusOr<ApplyResult>> done;
  std::future<absl::StatusOr<ApplyResult>> result = done.get_future();
  std::thread applying([&] {
    done.set_value(
        Apply({{"link", 'h', "fifo"}}, WhiteoutStyle::kOverlay, {lower}));
  });
  bool finished =
      result.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  if (!finished) {
    // Give the blocked open a writer so the thread can end, then fail.
    int w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w >= 0) close(w);
  }
  applying.join();
  ASSERT_TRUE(finished) << "copy-up of a FIFO blocked";
  absl::StatusOr<ApplyResult> r = result.get();
  ASSERT_TRUE(r.ok()) << r.status();
  struct stat st;
  ASSERT_EQ(lstat((root_ + "/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_nlink, 2u) << "the copy in the upper layer and the link";
}

TEST_F(ApplyTest, AHardlinkToALowerCharDeviceRecreatesItWithoutOpeningIt) {
  std::string lower = Lower();
  // /dev/null's numbers: harmless if a broken applier opens it, and the
  // watch below sees that it did.
  ASSERT_EQ(mknod((lower + "/dev").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
  int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(inotify_add_watch(watch, lower.c_str(), IN_OPEN), 0);
  absl::StatusOr<ApplyResult> r =
      Apply({{"link", 'h', "dev"}}, WhiteoutStyle::kOverlay, {lower});
  alignas(inotify_event) char events[4096];
  ssize_t n = read(watch, events, sizeof(events));
  close(watch);
  EXPECT_LT(n, 0) << "something opened the lower layer's device node";
  ASSERT_TRUE(r.ok()) << r.status();
  struct stat st;
  ASSERT_EQ(lstat((root_ + "/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(ApplyTest, CopyUpKeepsASparseFileSparse) {
  std::string lower = Lower();
  constexpr off_t kSize = 64 << 20;
  {
    int fd = open((lower + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, "head", 4, 0), 4);
    ASSERT_EQ(pwrite(fd, "middle", 6, kSize / 2), 6);
    ASSERT_EQ(ftruncate(fd, kSize), 0);  // ends in a hole
    close(fd);
  }
  struct stat before;
  ASSERT_EQ(stat((lower + "/sparse").c_str(), &before), 0);
  ASSERT_LT(before.st_blocks * 512, kSize / 8) << "no sparse files here";
  absl::StatusOr<ApplyResult> r =
      Apply({{"link", 'h', "sparse"}}, WhiteoutStyle::kOverlay, {lower});
  ASSERT_TRUE(r.ok()) << r.status();
  struct stat after;
  ASSERT_EQ(stat((root_ + "/link").c_str(), &after), 0);
  EXPECT_EQ(after.st_size, kSize);
  EXPECT_LE(after.st_blocks, before.st_blocks * 2) << "holes filled in";
  std::string data = Read(root_ + "/link");
  ASSERT_EQ(data.size(), static_cast<size_t>(kSize));
  EXPECT_EQ(data.substr(0, 4), "head");
  EXPECT_EQ(data.substr(kSize / 2, 6), "middle");
  EXPECT_EQ(data.find_first_not_of('\0', 4), static_cast<size_t>(kSize / 2));
}

TEST_F(ApplyTest, AHardlinkToALowerSymlinkRecreatesTheSymlink) {
  std::string lower = Lower();
  ASSERT_EQ(symlink(canary_.c_str(), (lower + "/sym").c_str()), 0);
  absl::StatusOr<ApplyResult> r =
      Apply({{"link", 'h', "sym"}}, WhiteoutStyle::kOverlay, {lower});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(fs::read_symlink(root_ + "/link"), canary_);
}

TEST_F(ApplyTest, AHardlinkToAWhitedOutLowerFileIsRefused) {
  std::string older = base_ + "/older", newer = base_ + "/newer";
  fs::create_directories(older);
  fs::create_directories(newer);
  std::ofstream(older + "/gone") << "deleted above";
  ASSERT_EQ(mknod((newer + "/gone").c_str(), S_IFCHR, makedev(0, 0)), 0);
  absl::StatusOr<ApplyResult> r =
      Apply({{"link", 'h', "gone"}}, WhiteoutStyle::kOverlay, {newer, older});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(root_ + "/link"));
}

TEST_F(ApplyTest, OnlyGzipZstdAndPlainLayersAreRead) {
  std::vector<TarEntry> layer = {{"a", 'f', std::string(1000, 'a')}};
  std::string plain = MakeTar(layer);
  for (Compression c :
       {Compression::kBzip2, Compression::kXz, Compression::kLzip,
        Compression::kCompress, Compression::kLz4}) {
    std::string packed = MakeTar(layer, c);
    ASSERT_NE(packed.substr(0, 100), plain.substr(0, 100))
        << "libarchive wrote no filter " << static_cast<int>(c);
    int fd = testing::TempFd(packed);
    absl::StatusOr<ApplyResult> r =
        ApplyLayer(fd, {root_, {}, WhiteoutStyle::kDelete});
    close(fd);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << static_cast<int>(c);
    EXPECT_THAT(r.status().message(), HasSubstr("only gzip, zstd"));
    EXPECT_FALSE(fs::exists(root_ + "/a"));
  }
}

TEST_F(ApplyTest, ALayerExpandingPastTheRatioIsRefused) {
  std::vector<TarEntry> bomb = {{"zeros", 'f', std::string(4 << 20, '\0')}};
  ApplyLimits limits;
  limits.max_expansion_ratio = 10;
  limits.expansion_floor_bytes = 1 << 20;
  absl::StatusOr<ApplyResult> r =
      ApplyWithLimits(bomb, limits, Compression::kGzip);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("decompression bomb"));
  EXPECT_THAT(r.status().message(), HasSubstr("images.unpack_max_ratio"));
  // Refused as soon as it passed the bound, not after writing it all.
  struct stat st;
  if (stat((root_ + "/zeros").c_str(), &st) == 0) {
    EXPECT_LT(st.st_size, 2 << 20);
  }
  // Below the floor, or within the ratio, the same layer applies.
  fs::remove_all(root_);
  fs::create_directories(root_);
  limits.expansion_floor_bytes = 8 << 20;
  EXPECT_TRUE(ApplyWithLimits(bomb, limits, Compression::kGzip).ok());
  fs::remove_all(root_);
  fs::create_directories(root_);
  EXPECT_TRUE(ApplyWithLimits(bomb, {}, Compression::kGzip).ok())
      << "the defaults let a 4 MiB layer expand";
}

TEST_F(ApplyTest, ALayerStopsAtTheFreeSpaceReserve) {
  ApplyLimits limits;
  limits.min_free_bytes = int64_t{1} << 60;  // more than any disk has
  limits.free_check_interval_bytes = 4096;
  absl::StatusOr<ApplyResult> r =
      ApplyWithLimits({{"a", 'f', "a"}, {"b", 'f', "b"}}, limits);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("images.unpack_min_free_mib"));
  EXPECT_FALSE(fs::exists(root_ + "/a"));
}

TEST_F(ApplyTest, ALayerWithTooManyEntriesIsRefused) {
  ApplyLimits limits;
  limits.max_entries = 3;
  std::vector<TarEntry> layer;
  for (int i = 0; i < 5; ++i) layer.push_back({"f" + std::to_string(i)});
  absl::StatusOr<ApplyResult> r = ApplyWithLimits(layer, limits);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("more than 3 entries"));
  EXPECT_FALSE(fs::exists(root_ + "/f3"));
  layer.resize(3);
  EXPECT_TRUE(ApplyWithLimits(layer, limits).ok());
}

TEST_F(ApplyTest, TooManyLayersAreRefusedBeforeOpeningThem) {
  ApplyLimits limits;
  limits.max_layers = 3;
  std::string lower = Lower();
  absl::StatusOr<ApplyResult> r =
      Apply({{"a", 'f', "a"}}, WhiteoutStyle::kOverlay, {lower, lower, lower},
            Compression::kNone, "", limits);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("images.max_layers"));
  EXPECT_TRUE(Apply({{"a", 'f', "a"}}, WhiteoutStyle::kOverlay, {lower, lower},
                    Compression::kNone, "", limits)
                  .ok());
}

TEST_F(ApplyTest, OverlongPathsAreRefusedAsInvalid) {
  std::string deep;
  for (int i = 0; i < 900; ++i) deep += "abcd/";
  absl::StatusOr<ApplyResult> r = Apply({{deep + "f", 'f', "x"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(r.status().message().size(), 1024u) << "the path is shortened";
}

}  // namespace
}  // namespace cradle
