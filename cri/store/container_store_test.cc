#include "cri/store/container_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/synchronization/notification.h"
#include "metadata/leveldb_store.h"

namespace cradle {
namespace {

CriContainer Make(const std::string& id) {
  CriContainer c;
  c.id = id;
  c.pod_id = "pod1";
  c.name = "app-" + id;
  c.created_at = absl::FromUnixSeconds(1000);
  c.stop_signal = "SIGUSR1";
  return c;
}

// The real store, whose next Apply waits for `release` once armed: a write
// held in the middle of its disk sync.
class HeldMetadata : public MetadataStore {
 public:
  explicit HeldMetadata(MetadataStore* real) : real_(real) {}
  absl::Status Apply(const MetadataBatch& batch) override {
    if (armed_.exchange(false)) {
      entered.Notify();
      release.WaitForNotification();
    }
    return real_->Apply(batch);
  }
  absl::StatusOr<Record> Get(absl::string_view ns,
                             const Record& prototype) override {
    return real_->Get(ns, prototype);
  }
  absl::StatusOr<std::vector<Record>> List(absl::string_view ns,
                                           const Record& prototype) override {
    return real_->List(ns, prototype);
  }
  absl::StatusOr<std::vector<std::string>> ListNamespaces() override {
    return real_->ListNamespaces();
  }
  absl::StatusOr<std::vector<std::string>> ContentOwners(
      const Digest& digest) override {
    return real_->ContentOwners(digest);
  }
  void Arm() { armed_ = true; }
  absl::Notification entered, release;

 private:
  MetadataStore* real_;
  std::atomic<bool> armed_{false};
};

class ContainerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(getenv("TEST_TMPDIR")) + "/containers-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(ContainerStoreTest, UserIdsAndStopSignalSurviveReopen) {
  {
    auto metadata = OpenMetadataStore(dir_);
    ASSERT_TRUE(metadata.ok()) << metadata.status();
    auto store = ContainerStore::Open(metadata->get(), "k8s.io");
    ASSERT_TRUE(store.ok()) << store.status();
    CriContainer with_user = Make("a");
    with_user.user = CriContainer::UserIds{1000, 0, {5, 4294967294u}};
    ASSERT_TRUE((*store)->Add(with_user).ok());
    ASSERT_TRUE((*store)->Add(Make("b")).ok());
  }
  auto metadata = OpenMetadataStore(dir_);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  auto store = ContainerStore::Open(metadata->get(), "k8s.io");
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<CriContainer> a = (*store)->Get("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->stop_signal, "SIGUSR1");
  ASSERT_TRUE(a->user.has_value());
  EXPECT_EQ(a->user->uid, 1000u);
  EXPECT_EQ(a->user->gid, 0u);
  EXPECT_EQ(a->user->supplemental_groups,
            (std::vector<uint32_t>{5, 4294967294u}));
  absl::StatusOr<CriContainer> b = (*store)->Get("b");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->user.has_value()) << "no ids recorded: none reported";
}

TEST_F(ContainerStoreTest, RecordWithoutUserOrWithAMistypedOneStillLoads) {
  {
    auto metadata = OpenMetadataStore(dir_);
    ASSERT_TRUE(metadata.ok()) << metadata.status();
    // As an older daemon wrote it (no "user"), and one whose "user" is
    // damaged: both load, neither with ids.
    const std::pair<const char*, const char*> kRecords[] = {
        {"old", R"({"pod_id":"p","name":"old","state":1})"},
        {"bad", R"({"pod_id":"p","name":"bad","state":1,"user":{"uid":"x"}})"}};
    for (const auto& [id, spec] : kRecords) {
      ContainerRecord r;
      r.id = id;
      r.sandbox_id = "p";
      r.spec = spec;
      MetadataBatch batch;
      batch.Add(MetadataBatch::Action::kCreate, "k8s.io", r);
      ASSERT_TRUE((*metadata)->Apply(batch).ok());
    }
  }
  auto metadata = OpenMetadataStore(dir_);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  auto store = ContainerStore::Open(metadata->get(), "k8s.io");
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<CriContainer> all = (*store)->List();
  ASSERT_EQ(all.size(), 2u);
  for (const CriContainer& c : all) {
    EXPECT_FALSE(c.user.has_value()) << c.id;
    EXPECT_EQ(c.state, CriContainer::kRunning) << c.id;
  }
}

TEST_F(ContainerStoreTest, ImageVolumesSurviveReopenAndPinTheirViewsForGc) {
  auto metadata = OpenMetadataStore(dir_);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  {
    auto store = ContainerStore::Open(metadata->get(), "k8s.io");
    ASSERT_TRUE(store.ok()) << store.status();
    CriContainer c = Make("v");
    c.snapshotter = "overlayfs";
    c.snapshot_key = "v";
    c.labels["app"] = "web";
    c.image_volumes = {{"sha256:aa", "v-volume-0", "/data"},
                       {"sha256:bb", "v-volume-1", "/tools"}};
    ASSERT_TRUE((*store)->Add(c).ok());
  }
  // The record itself carries one GC reference per view...
  absl::StatusOr<std::vector<ContainerRecord>> records =
      (*metadata)->ListContainers("k8s.io");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  std::vector<std::string> referenced;
  for (const auto& [key, value] : records->front().labels) {
    if (key.rfind(kGcRefSnapshotPrefix, 0) == 0) referenced.push_back(value);
  }
  EXPECT_EQ(referenced, (std::vector<std::string>{"v-volume-0", "v-volume-1"}));
  // ...which the CRI's labels never show.
  auto store = ContainerStore::Open(metadata->get(), "k8s.io");
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<CriContainer> v = (*store)->Get("v");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->labels, (std::map<std::string, std::string>{{"app", "web"}}));
  ASSERT_EQ(v->image_volumes.size(), 2u);
  EXPECT_EQ(v->image_volumes[1].image_id, "sha256:bb");
  EXPECT_EQ(v->image_volumes[1].snapshot_key, "v-volume-1");
  EXPECT_EQ(v->image_volumes[1].container_path, "/tools");
}

// Status and list calls (the kubelet's relist) must not queue behind
// another container's write while it syncs to disk; they see the state as
// it was until the write is on disk.
TEST_F(ContainerStoreTest, ReadsDoNotWaitForAWriteInProgress) {
  auto metadata = OpenMetadataStore(dir_);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  HeldMetadata held(metadata->get());
  auto store = ContainerStore::Open(&held, "k8s.io");
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Add(Make("a")).ok());
  held.Arm();
  absl::Status written;
  std::thread writer([&] {
    written = (*store)->Mutate(
        "a", [](CriContainer& c) { c.state = CriContainer::kRunning; });
  });
  held.entered.WaitForNotification();
  // The write is held inside Apply; a deadlock here fails by the test's
  // timeout rather than by a clock.
  absl::StatusOr<CriContainer> a = (*store)->Get("a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->state, CriContainer::kCreated) << "not on disk yet";
  EXPECT_EQ((*store)->List().size(), 1u);
  held.release.Notify();
  writer.join();
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ((*store)->Get("a")->state, CriContainer::kRunning);
}

// A second Add of the same name, started while a first one is held in
// the middle of its write, is refused rather than stored twice, whichever
// of the two reaches the writers' lock first after the release.
TEST_F(ContainerStoreTest, ANameRacingAWriteInProgressIsStillReserved) {
  auto metadata = OpenMetadataStore(dir_);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  HeldMetadata held(metadata->get());
  auto store = ContainerStore::Open(&held, "k8s.io");
  ASSERT_TRUE(store.ok()) << store.status();
  held.Arm();
  absl::Status first;
  std::thread writer([&] { first = (*store)->Add(Make("a")); });
  held.entered.WaitForNotification();
  absl::Status second;
  std::thread racer([&] {
    CriContainer twin = Make("a2");
    twin.name = "app-a";
    second = (*store)->Add(twin);
  });
  held.release.Notify();
  writer.join();
  racer.join();
  EXPECT_TRUE(first.ok()) << first;
  EXPECT_TRUE(absl::IsAlreadyExists(second)) << second;
  EXPECT_EQ((*store)->List().size(), 1u);
}

}  // namespace
}  // namespace cradle
