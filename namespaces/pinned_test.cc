#include "namespaces/pinned.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "process/process.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

class PinnedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-ns-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const char* n : {"net", "ipc", "uts"})
      (void)RemovePinnedNamespace(dir_ + "/" + n);
    fs::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(PinnedTest, EachKindIsPinnedAndSeparateFromOurs) {
  char our_host[256] = {};
  gethostname(our_host, sizeof(our_host) - 1);
  ASSERT_TRUE(
      CreatePinnedNamespace(NamespaceKind::kNetwork, dir_ + "/net").ok());
  ASSERT_TRUE(CreatePinnedNamespace(NamespaceKind::kIpc, dir_ + "/ipc").ok());
  ASSERT_TRUE(
      CreatePinnedNamespace(NamespaceKind::kUts, dir_ + "/uts", "pod-host")
          .ok());
  for (const char* n : {"net", "ipc", "uts"})
    EXPECT_TRUE(IsPinnedNamespace(dir_ + "/" + n)) << n;

  // The UTS namespace carries the pod's hostname; ours is unchanged.
  absl::StatusOr<RunResult> inside = RunAndCapture(
      SpawnOptions{{"nsenter", "--uts=" + dir_ + "/uts", "hostname"}});
  ASSERT_TRUE(inside.ok()) << inside.status();
  EXPECT_EQ(inside->out, "pod-host\n");
  char now[256] = {};
  gethostname(now, sizeof(now) - 1);
  EXPECT_STREQ(now, our_host);
  // The network namespace is a fresh one: only a loopback device.
  absl::StatusOr<RunResult> links = RunAndCapture(
      SpawnOptions{{"nsenter", "--net=" + dir_ + "/net", "ip", "-o", "link"}});
  ASSERT_TRUE(links.ok());
  EXPECT_EQ(std::count(links->out.begin(), links->out.end(), '\n'), 1)
      << links->out;
}

TEST_F(PinnedTest, CreateTwiceIsAlreadyExistsAndRemoveIsIdempotent) {
  std::string ns = dir_ + "/net";
  ASSERT_TRUE(CreatePinnedNamespace(NamespaceKind::kNetwork, ns).ok());
  EXPECT_EQ(CreatePinnedNamespace(NamespaceKind::kNetwork, ns).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(RemovePinnedNamespace(ns).ok());
  EXPECT_FALSE(fs::exists(ns));
  EXPECT_FALSE(IsPinnedNamespace(ns));
  EXPECT_TRUE(RemovePinnedNamespace(ns).ok());
}

}  // namespace
}  // namespace cradle
