#include "cri/store/state.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "cri/store/container_store.h"
#include "cri/store/sandbox_store.h"
#include "metadata/leveldb_store.h"

namespace cradle {
namespace {

std::string TestDir(const std::string& name) {
  std::string dir = std::string(getenv("TEST_TMPDIR")) + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(StateMachineTest, ContainerExitIsFinal) {
  using S = ContainerState;
  EXPECT_TRUE(ContainerTransitionAllowed(S::kCreated, S::kRunning));
  EXPECT_TRUE(ContainerTransitionAllowed(S::kCreated, S::kExited));
  EXPECT_TRUE(ContainerTransitionAllowed(S::kRunning, S::kExited));
  EXPECT_FALSE(ContainerTransitionAllowed(S::kRunning, S::kCreated));
  EXPECT_FALSE(ContainerTransitionAllowed(S::kExited, S::kRunning));
  EXPECT_FALSE(ContainerTransitionAllowed(S::kExited, S::kCreated));
  EXPECT_FALSE(ContainerTransitionAllowed(S::kRunning, S::kUnknown))
      << "unknown is reported, never stored over a known state";
}

TEST(StateMachineTest, StoppedPodIsNeverReadyAgain) {
  using S = PodState;
  EXPECT_TRUE(PodTransitionAllowed(S::kCreating, S::kReady));
  EXPECT_TRUE(PodTransitionAllowed(S::kCreating, S::kNotReady));
  EXPECT_TRUE(PodTransitionAllowed(S::kReady, S::kNotReady));
  EXPECT_FALSE(PodTransitionAllowed(S::kNotReady, S::kReady));
  EXPECT_FALSE(PodTransitionAllowed(S::kReady, S::kCreating));
}

TEST(StateMachineTest, RefusedPodTransitionWritesNothing) {
  std::string dir = TestDir("pods");
  {
    auto store = SandboxStore::Open(dir);
    ASSERT_TRUE(store.ok());
    PodRecord r;
    r.id = "p1";
    r.name = "web";
    r.netns_path = "/run/x/ns/net";
    ASSERT_TRUE((*store)->Add(r).ok());
    EXPECT_EQ((*store)->Get("p1")->state, PodState::kCreating)
        << "a new record says CREATING before anything is built";
    ASSERT_TRUE(
        (*store)
            ->Mutate("p1", [](PodRecord& p) { p.state = PodState::kNotReady; })
            .ok());
    absl::Status s = (*store)->Mutate(
        "p1", [](PodRecord& p) { p.state = PodState::kReady; });
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_EQ((*store)->Get("p1")->state, PodState::kNotReady);
  }
  auto reopened = SandboxStore::Open(dir);
  ASSERT_TRUE(reopened.ok());
  PodRecord r = *(*reopened)->Get("p1");
  EXPECT_EQ(r.state, PodState::kNotReady);
  EXPECT_EQ(r.netns_path, "/run/x/ns/net");
}

TEST(StateMachineTest, ContainerMutateChecksAndPersists) {
  std::string dir = TestDir("meta");
  absl::StatusOr<std::unique_ptr<MetadataStore>> meta = OpenMetadataStore(dir);
  ASSERT_TRUE(meta.ok()) << meta.status();
  {
    auto store = ContainerStore::Open(meta->get(), "k8s.io");
    ASSERT_TRUE(store.ok());
    CriContainer c;
    c.id = "c1";
    c.pod_id = "p1";
    c.name = "app";
    c.snapshotter = "overlayfs";
    c.snapshot_key = "c1";
    ASSERT_TRUE((*store)->Add(c).ok());
    CriContainer now;
    ASSERT_TRUE((*store)
                    ->Mutate(
                        "c1",
                        [](CriContainer& x) {
                          x.state = CriContainer::kExited;
                          x.exit_code = 7;
                        },
                        &now)
                    .ok());
    EXPECT_EQ(now.exit_code, 7);
    c.state = CriContainer::kRunning;
    EXPECT_EQ((*store)->Update(c).code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ((*store)->Mutate("gone", [](CriContainer&) {}).code(),
              absl::StatusCode::kNotFound);
  }
  auto reopened = ContainerStore::Open(meta->get(), "k8s.io");
  ASSERT_TRUE(reopened.ok());
  CriContainer c = *(*reopened)->Get("c1");
  EXPECT_EQ(c.state, CriContainer::kExited);
  EXPECT_EQ(c.exit_code, 7);
}

}  // namespace
}  // namespace cradle
