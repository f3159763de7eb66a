#include "metadata/gc.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "content/local/local_store.h"
#include "metadata/content_store.h"
#include "metadata/leveldb_store.h"

namespace cradle {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
constexpr char kNs[] = "k8s.io";

class FakeSnapshots : public SnapshotRemover {
 public:
  void Add(const std::string& key, const std::string& parent,
           absl::Time created = absl::InfinitePast()) {
    absl::MutexLock lock(&mu_);
    entries_[key] = {"overlayfs", key, parent, created};
  }
  absl::Status Walk(
      absl::FunctionRef<absl::Status(const SnapshotEntry&)> fn) override {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, e] : entries_) {
      if (absl::Status s = fn(e); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status Remove(const std::string& snapshotter,
                      const std::string& key) override {
    absl::MutexLock lock(&mu_);
    for (const auto& [k, e] : entries_) {
      if (e.parent == key)
        return absl::FailedPreconditionError("removed before its child");
    }
    removed_.push_back(key);
    return entries_.erase(key) ? absl::OkStatus()
                               : absl::NotFoundError(snapshotter);
  }
  std::vector<std::string> removed() {
    absl::MutexLock lock(&mu_);
    return removed_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, SnapshotEntry> entries_;
  std::vector<std::string> removed_;
};

class GcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = absl::StrCat(
        getenv("TEST_TMPDIR"), "/gc-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    content_ = *OpenLocalContentStore(dir + "/content");
    md_ = *OpenMetadataStore(dir + "/meta");
    options_.min_age = absl::ZeroDuration();
    options_.now = absl::Now() + absl::Seconds(1);
  }
  // Commits `data` through namespace kNs (under `lease` if given).
  Digest Put(const std::string& data, const Labels& labels = {},
             const std::string& lease = "") {
    std::unique_ptr<ContentStore> view =
        NamespacedContentStore::Create(content_.get(), md_.get(), kNs, lease);
    Digest d = Digest::OfBytes(data);
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        view->Writer(absl::StrCat("put-", d.hex()), data.size(), d);
    EXPECT_TRUE(w.ok()) << w.status();
    EXPECT_TRUE((*w)->Write(data).ok());
    EXPECT_TRUE((*w)->Commit(data.size(), d, labels).ok());
    return d;
  }
  bool Has(const Digest& d) { return content_->Info(d).ok(); }
  GcReport Collect(SnapshotRemover* snapshots = nullptr) {
    absl::StatusOr<GcReport> r =
        CollectGarbage(*md_, *content_, snapshots, options_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : GcReport();
  }
  void PutImage(const std::string& name, const Digest& target,
                const Labels& labels = {}) {
    ImageRecord image;
    image.name = name;
    image.target.digest = target;
    image.labels = labels;
    ASSERT_TRUE(md_->PutImage(kNs, image).ok());
  }

  std::unique_ptr<ContentStore> content_;
  std::unique_ptr<MetadataStore> md_;
  GcOptions options_;
};

TEST_F(GcTest, FollowsChildReferencesAndRemovesTheRest) {
  Digest config = Put("config");
  Digest layer = Put("layer");
  Digest manifest =
      Put("manifest", {{"cradle.io/gc.ref.content.config", config.ToString()},
                       {"cradle.io/gc.ref.content.l.0", layer.ToString()}});
  Digest orphan = Put("orphan");
  Digest pinned = Put("pinned", {{kGcRootLabel, "1"}});
  PutImage("docker.io/library/app:1", manifest);
  GcReport report = Collect();
  EXPECT_TRUE(Has(manifest));
  EXPECT_TRUE(Has(config));
  EXPECT_TRUE(Has(layer));
  EXPECT_TRUE(Has(pinned));
  EXPECT_FALSE(Has(orphan));
  EXPECT_THAT(report.removed_blobs, ElementsAre(orphan));
  EXPECT_EQ(md_->GetContent(kNs, orphan).status().code(),
            absl::StatusCode::kNotFound);
  // Untagging the image frees the whole tree at the next collection.
  ASSERT_TRUE(md_->DeleteImages(kNs, {"docker.io/library/app:1"}).ok());
  report = Collect();
  EXPECT_THAT(report.removed_blobs,
              UnorderedElementsAre(manifest, config, layer));
  EXPECT_TRUE(Has(pinned));
}

TEST_F(GcTest, BlobWithoutAnyRecordIsRemoved) {
  Digest d = Digest::OfBytes("raw");
  absl::StatusOr<std::unique_ptr<BlobWriter>> w = content_->Writer("raw", 3, d);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("raw").ok());
  ASSERT_TRUE((*w)->Commit(3, d).ok());
  // Young blobs are spared: a writer without a lease gets min_age.
  options_.min_age = absl::Hours(1);
  Collect();
  EXPECT_TRUE(Has(d));
  options_.min_age = absl::ZeroDuration();
  Collect();
  EXPECT_FALSE(Has(d));
}

TEST_F(GcTest, LeaseProtectsAHalfPulledImageUntilItExpires) {
  LeaseRecord lease;
  lease.id = "pull";
  lease.expires_at = absl::Now() + absl::Minutes(10);
  ASSERT_TRUE(md_->CreateLease(kNs, lease).ok());
  Digest done = Put("first layer", {}, "pull");
  // A second layer half downloaded.
  std::unique_ptr<ContentStore> view =
      NamespacedContentStore::Create(content_.get(), md_.get(), kNs, "pull");
  std::string second = "second layer";
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      view->Writer("layer-1", second.size(), Digest::OfBytes(second));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(second.substr(0, 4)).ok());
  ASSERT_TRUE((*w)->Close().ok());
  options_.ingest_max_age = absl::ZeroDuration();

  GcReport report = Collect();
  EXPECT_TRUE(Has(done));
  EXPECT_THAT(report.aborted_ingests, IsEmpty());
  EXPECT_TRUE(view->Status("layer-1").ok());

  options_.now = absl::Now() + absl::Minutes(20);  // past the expiry
  report = Collect();
  EXPECT_THAT(report.expired_leases, ElementsAre("k8s.io/pull"));
  EXPECT_FALSE(Has(done));
  EXPECT_THAT(report.aborted_ingests,
              ElementsAre(NamespacedIngestRef(kNs, "layer-1")));
  EXPECT_EQ(view->Status("layer-1").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(GcTest, FinishedPullKeepsItsImageAfterTheLeaseGoes) {
  LeaseRecord lease;
  lease.id = "pull";
  ASSERT_TRUE(md_->CreateLease(kNs, lease).ok());
  Digest layer = Put("layer", {}, "pull");
  Digest manifest = Put(
      "manifest", {{"cradle.io/gc.ref.content.l.0", layer.ToString()}}, "pull");
  PutImage("img", manifest);
  ASSERT_TRUE(md_->DeleteLease(kNs, "pull").ok());
  Collect();
  EXPECT_TRUE(Has(layer));
  EXPECT_TRUE(Has(manifest));
}

TEST_F(GcTest, IngestsWithoutLeaseAreAbortedWhenIdle) {
  Digest d = Digest::OfBytes("abc");
  {
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        content_->Writer("idle", 3, d);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("a").ok());
  }
  options_.ingest_max_age = absl::Hours(1);
  EXPECT_THAT(Collect().aborted_ingests, IsEmpty());
  options_.ingest_max_age = absl::ZeroDuration();
  EXPECT_THAT(Collect().aborted_ingests, ElementsAre("idle"));
  EXPECT_TRUE(content_->ListIngests()->empty());
}

TEST_F(GcTest, SnapshotsKeptByImagesContainersAndLeasesWithTheirParents) {
  FakeSnapshots snaps;
  snaps.Add("l1", "");
  snaps.Add("l2", "l1");
  snaps.Add("l3", "l2");
  snaps.Add("c1", "l2");  // a container's rw layer
  snaps.Add("o1", "");    // nothing uses o1 <- o2 <- o3
  snaps.Add("o2", "o1");
  snaps.Add("o3", "o2");
  snaps.Add("extract", "l3");  // a pull's work in progress
  snaps.Add("young", "", absl::Now() + absl::Hours(1));
  Digest manifest = Put("manifest");
  PutImage("img", manifest, {{"cradle.io/gc.ref.snapshot.overlayfs", "l3"}});
  ContainerRecord c;
  c.id = "c1";
  c.snapshotter = "overlayfs";
  c.snapshot_key = "c1";
  ASSERT_TRUE(md_->Apply(MetadataBatch().Create(kNs, c)).ok());
  LeaseRecord lease;
  lease.id = "pull";
  ASSERT_TRUE(md_->CreateLease(kNs, lease).ok());
  ASSERT_TRUE(
      md_->AddLeaseResource(
             kNs, "pull", {LeaseResource::Type::kSnapshot, "overlayfs/extract"})
          .ok());
  options_.min_age = absl::Minutes(1);
  GcReport report = Collect(&snaps);
  // Children first (FakeSnapshots refuses otherwise).
  EXPECT_THAT(snaps.removed(), ElementsAre("o3", "o2", "o1"));
  EXPECT_THAT(report.removed_snapshots,
              ElementsAre("overlayfs/o3", "overlayfs/o2", "overlayfs/o1"));

  // Without the image, l3 goes; l1 and l2 stay for the container.
  ASSERT_TRUE(md_->DeleteImages(kNs, {"img"}).ok());
  ASSERT_TRUE(md_->DeleteLease(kNs, "pull").ok());
  Collect(&snaps);
  EXPECT_THAT(snaps.removed(), ElementsAre("o3", "o2", "o1", "extract", "l3"));
}

TEST_F(GcTest, FollowsContainerdLabelsLikeCradles) {
  Digest config = Put("config");
  Digest layer = Put("layer");
  // Reached only through containerd's label names, as ctr writes them.
  Digest manifest = Put(
      "manifest", {{"containerd.io/gc.ref.content.config", config.ToString()},
                   {"containerd.io/gc.ref.content.l.0", layer.ToString()}});
  Digest index =
      Put("index", {{"containerd.io/gc.ref.content.m.0", manifest.ToString()}});
  Digest pinned = Put("pinned", {{"containerd.io/gc.root", "2023-01-01"}});
  Digest orphan = Put("orphan");
  PutImage("docker.io/library/app:1", index);
  GcReport report = Collect();
  EXPECT_TRUE(Has(index));
  EXPECT_TRUE(Has(manifest));
  EXPECT_TRUE(Has(config));
  EXPECT_TRUE(Has(layer));
  EXPECT_TRUE(Has(pinned));
  EXPECT_FALSE(Has(orphan));
  EXPECT_THAT(report.removed_blobs, ElementsAre(orphan));
}

TEST_F(GcTest, ContainerdExpireLabelEndsALease) {
  LeaseRecord lease;
  lease.id = "ctr-pull";
  lease.labels[kContainerdGcExpireLabel] = absl::FormatTime(
      absl::RFC3339_full, absl::Now() + absl::Minutes(10), absl::UTCTimeZone());
  ASSERT_TRUE(md_->CreateLease(kNs, lease).ok());
  Digest held = Put("held", {}, "ctr-pull");
  Collect();
  EXPECT_TRUE(Has(held));
  options_.now = absl::Now() + absl::Minutes(20);
  GcReport report = Collect();
  EXPECT_THAT(report.expired_leases, ElementsAre("k8s.io/ctr-pull"));
  EXPECT_FALSE(Has(held));
}

TEST_F(GcTest, SnapshotRefsResolveInTheRecordsNamespace) {
  EXPECT_EQ(BackendSnapshotKey("k8s.io", "sha256:abc"), "sha256:abc");
  EXPECT_EQ(BackendSnapshotKey("default", "sha256:abc"), "default/sha256:abc");
  FakeSnapshots snaps;
  snaps.Add("default/chain", "");
  snaps.Add("chain", "");  // k8s.io's snapshot of the same name: unused
  // An image in namespace "default" naming its unpacked chain by the key
  // the client knows, with containerd's label.
  ImageRecord image;
  image.name = "docker.io/library/app:1";
  image.target.digest = Digest::OfBytes("m");
  image.labels["containerd.io/gc.ref.snapshot.overlayfs"] = "chain";
  ASSERT_TRUE(md_->PutImage("default", image).ok());
  Collect(&snaps);
  EXPECT_THAT(snaps.removed(), ElementsAre("chain"));
}

TEST_F(GcTest, SnapshotRecordsHoldTheSnapshottersKeys) {
  FakeSnapshots snaps;
  snaps.Add("default/kept", "");
  snaps.Add("default/default/kept", "");  // what a second mapping would name
  SnapshotRecord record;
  record.snapshotter = "overlayfs";
  record.key = "default/kept";
  record.labels[kContainerdGcRootLabel] = "2026-11-30T00:00:00Z";
  MetadataBatch batch;
  batch.Put("default", record);
  ASSERT_TRUE(md_->Apply(batch).ok());
  Collect(&snaps);
  EXPECT_THAT(snaps.removed(), ElementsAre("default/default/kept"));
}

}  // namespace
}  // namespace cradle
