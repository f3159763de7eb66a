#include "metadata/content_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "content/local/local_store.h"
#include "content/testsuite/testsuite.h"
#include "metadata/leveldb_store.h"

namespace cradle {
namespace {

using Code = absl::StatusCode;
constexpr char kNs[] = "k8s.io";

// Owns a local store, a metadata store and a view over both, so the
// conformance suite can reopen the lot like a restarted daemon.
class OwningView : public ContentStore {
 public:
  using ContentIngester::Writer;
  using ContentStore::Walk;

  static absl::StatusOr<std::unique_ptr<ContentStore>> Open(
      const std::string& dir, const std::string& lease) {
    auto v = std::make_unique<OwningView>();
    absl::StatusOr<std::unique_ptr<ContentStore>> backend =
        OpenLocalContentStore(dir + "/content");
    if (!backend.ok()) return backend.status();
    absl::StatusOr<std::unique_ptr<MetadataStore>> md =
        OpenMetadataStore(dir + "/meta");
    if (!md.ok()) return md.status();
    v->backend_ = *std::move(backend);
    v->md_ = *std::move(md);
    if (!lease.empty() && !v->md_->GetLease(kNs, lease).ok()) {
      LeaseRecord l;
      l.id = lease;
      if (absl::Status s = v->md_->CreateLease(kNs, l).status(); !s.ok())
        return s;
    }
    v->view_ = NamespacedContentStore::Create(v->backend_.get(), v->md_.get(),
                                              kNs, lease);
    return std::unique_ptr<ContentStore>(std::move(v));
  }

  absl::StatusOr<ContentInfo> Info(const Digest& d) override {
    return view_->Info(d);
  }
  absl::StatusOr<std::unique_ptr<BlobReader>> Open(const Digest& d) override {
    return view_->Open(d);
  }
  absl::StatusOr<std::unique_ptr<BlobWriter>> Writer(
      absl::string_view ref, const Descriptor& expected) override {
    return view_->Writer(ref, expected);
  }
  absl::StatusOr<std::vector<IngestStatus>> ListIngests() override {
    return view_->ListIngests();
  }
  absl::StatusOr<IngestStatus> Status(absl::string_view ref) override {
    return view_->Status(ref);
  }
  absl::Status Abort(absl::string_view ref) override {
    return view_->Abort(ref);
  }
  absl::Status Walk(
      const ContentFilter& filter,
      absl::FunctionRef<absl::Status(const ContentInfo&)> fn) override {
    return view_->Walk(filter, fn);
  }
  absl::Status Delete(const Digest& d) override { return view_->Delete(d); }
  absl::StatusOr<ContentInfo> Update(const Digest& d,
                                     const Labels& labels) override {
    return view_->Update(d, labels);
  }

 private:
  std::unique_ptr<ContentStore> backend_;
  std::unique_ptr<MetadataStore> md_;
  std::unique_ptr<ContentStore> view_;  // destroyed first
};

ContentStoreFactory ViewFactory(const std::string& lease) {
  ContentStoreFactory f;
  f.name = lease.empty() ? "view" : "leased_view";
  f.open = [lease](const std::string& dir) {
    return OwningView::Open(dir, lease);
  };
  f.keeps_labels = true;
  f.ingest_data_path = [](const std::string& dir, const std::string& ref) {
    return absl::StrCat(dir, "/content/ingest/",
                        Digest::OfBytes(NamespacedIngestRef(kNs, ref)).hex(),
                        "/data");
  };
  return f;
}

INSTANTIATE_TEST_SUITE_P(Metadata, ContentStoreConformance,
                         ::testing::Values(ViewFactory(""),
                                           ViewFactory("pull")),
                         [](const auto& info) { return info.param.name; });

class ViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = absl::StrCat(
        getenv("TEST_TMPDIR"), "/view-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    backend_ = *OpenLocalContentStore(dir + "/content");
    md_ = *OpenMetadataStore(dir + "/meta");
  }
  std::unique_ptr<ContentStore> View(const std::string& ns,
                                     const std::string& lease = "") {
    return NamespacedContentStore::Create(backend_.get(), md_.get(), ns, lease);
  }
  std::unique_ptr<ContentStore> backend_;
  std::unique_ptr<MetadataStore> md_;
};

const std::string kBlob = "namespaced blob";

TEST_F(ViewTest, NamespacesShareBlobsButNotRecords) {
  std::unique_ptr<ContentStore> a = View("a");
  std::unique_ptr<ContentStore> b = View("b");
  Digest d = Digest::OfBytes(kBlob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      a->Writer("r", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(kBlob).ok());
  ASSERT_TRUE((*w)->Commit(kBlob.size(), d, {{"x", "1"}}).ok());
  EXPECT_TRUE(a->Info(d).ok());
  EXPECT_EQ(b->Info(d).status().code(), Code::kNotFound);
  EXPECT_EQ(b->Open(d).status().code(), Code::kNotFound);
  // b's writer finds the blob in the backend: recorded, no download.
  EXPECT_EQ(b->Writer("r", kBlob.size(), d).status().code(),
            Code::kAlreadyExists);
  ASSERT_TRUE(b->Info(d).ok());
  EXPECT_TRUE(b->Info(d)->labels.empty());
  EXPECT_EQ(a->Info(d)->labels.at("x"), "1");
  EXPECT_EQ(md_->ContentOwners(d)->size(), 2u);
  // Deleting from a namespace keeps the blob for the other.
  ASSERT_TRUE(a->Delete(d).ok());
  EXPECT_EQ(a->Info(d).status().code(), Code::kNotFound);
  EXPECT_TRUE(b->Info(d).ok());
  EXPECT_TRUE(backend_->Info(d).ok());
}

TEST_F(ViewTest, WriterRecordsIngestAndBlobInTheLeaseFirst) {
  LeaseRecord l;
  l.id = "pull-1";
  ASSERT_TRUE(md_->CreateLease(kNs, l).ok());
  std::unique_ptr<ContentStore> view = View(kNs, "pull-1");
  Digest d = Digest::OfBytes(kBlob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      view->Writer("layer-0", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  absl::StatusOr<LeaseRecord> lease = md_->GetLease(kNs, "pull-1");
  ASSERT_TRUE(lease.ok());
  EXPECT_THAT(lease->resources,
              ::testing::UnorderedElementsAre(
                  LeaseResource{LeaseResource::Type::kIngest, "layer-0"},
                  LeaseResource{LeaseResource::Type::kContent, d.ToString()}));
  // The backend ingest is namespaced.
  EXPECT_TRUE(backend_->Status(NamespacedIngestRef(kNs, "layer-0")).ok());
  EXPECT_EQ(view->Status("layer-0")->ref, "layer-0");
  // A view on a lease that does not exist cannot write.
  EXPECT_EQ(View(kNs, "gone")->Writer("x", 1, d).status().code(),
            Code::kNotFound);
}

}  // namespace
}  // namespace cradle
