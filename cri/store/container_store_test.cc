#include "cri/store/container_store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

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

}  // namespace
}  // namespace cradle
