#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "metadata/leveldb_store.h"

namespace cradle {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using Code = absl::StatusCode;
constexpr char kNs[] = "k8s.io";

class MetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        getenv("TEST_TMPDIR"), "/meta-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<MetadataStore>> s = OpenMetadataStore(dir_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  static ImageRecord MakeImage(const std::string& name,
                               const std::string& content) {
    ImageRecord i;
    i.name = name;
    i.target.media_type = "application/vnd.oci.image.manifest.v1+json";
    i.target.digest = Digest::OfBytes(content);
    i.target.size = 123;
    i.target.annotations = {{"a", "b"}};
    i.target.urls = {"https://example.com/x"};
    i.labels = {{"k", "v"}};
    return i;
  }
  static ContainerRecord MakeContainer(const std::string& id) {
    ContainerRecord c;
    c.id = id;
    c.image = "docker.io/library/busybox:latest";
    c.snapshotter = "overlayfs";
    c.snapshot_key = id;
    c.labels = {{"io.kubernetes.pod.name", "p"}};
    c.spec = std::string("\0\x01spec", 6);
    c.extensions = {{"status", "running"}};
    c.sandbox_id = "sb1";
    return c;
  }
  std::string dir_;
  std::unique_ptr<MetadataStore> store_;
};

TEST_F(MetadataTest, ImagesRoundTripKeepCreatedAtAndPersist) {
  ASSERT_TRUE(store_->PutImage(kNs, MakeImage("docker.io/a:1", "m1")).ok());
  absl::StatusOr<ImageRecord> got = store_->GetImage(kNs, "docker.io/a:1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->target.digest, Digest::OfBytes("m1"));
  EXPECT_EQ(got->target.size, 123);
  EXPECT_EQ(got->target.annotations.at("a"), "b");
  EXPECT_THAT(got->target.urls, ElementsAre("https://example.com/x"));
  EXPECT_EQ(got->labels.at("k"), "v");
  absl::Time created = got->created_at;
  EXPECT_GT(created, absl::Now() - absl::Minutes(1));

  ASSERT_TRUE(store_->PutImage(kNs, MakeImage("docker.io/a:1", "m2")).ok());
  Reopen();
  got = store_->GetImage(kNs, "docker.io/a:1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->target.digest, Digest::OfBytes("m2"));
  EXPECT_EQ(got->created_at, created);
  EXPECT_GE(got->updated_at, created);
  // Other namespaces see nothing.
  EXPECT_EQ(store_->GetImage("other", "docker.io/a:1").status().code(),
            Code::kNotFound);
  EXPECT_TRUE(store_->ListImages("k8s.io2")->empty());
}

TEST_F(MetadataTest, ContainersSandboxesContentSnapshotsRoundTrip) {
  ContainerRecord c = MakeContainer("c1");
  SandboxRecord sb;
  sb.id = "sb1";
  sb.spec = "pod spec";
  ContentRecord content;
  content.digest = Digest::OfBytes("blob");
  content.size = 4;
  content.labels = {{"cradle.io/gc.ref.content.config", "x"}};
  SnapshotRecord snap;
  snap.snapshotter = "overlayfs";
  snap.key = "sha256:abc/with-slash";
  ASSERT_TRUE(store_
                  ->Apply(MetadataBatch()
                              .Create(kNs, c)
                              .Create(kNs, sb)
                              .Put(kNs, content)
                              .Put(kNs, snap))
                  .ok());
  Reopen();
  absl::StatusOr<ContainerRecord> gc = store_->GetContainer(kNs, "c1");
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->spec, c.spec);
  EXPECT_EQ(gc->extensions, c.extensions);
  EXPECT_EQ(gc->labels, c.labels);
  EXPECT_EQ(gc->sandbox_id, "sb1");
  EXPECT_EQ(gc->snapshot_key, "c1");
  EXPECT_EQ(store_->GetSandbox(kNs, "sb1")->spec, "pod spec");
  EXPECT_EQ(store_->ListContainers(kNs)->size(), 1u);
  EXPECT_EQ(store_->ListSandboxes(kNs)->size(), 1u);
  EXPECT_EQ(store_->GetContent(kNs, content.digest)->labels, content.labels);
  ASSERT_EQ(store_->ListSnapshots(kNs)->size(), 1u);
  EXPECT_EQ((*store_->ListSnapshots(kNs))[0].key, "sha256:abc/with-slash");
  EXPECT_THAT(*store_->ContentOwners(content.digest), ElementsAre(kNs));
  EXPECT_THAT(*store_->ListNamespaces(), ElementsAre(kNs));

  // Create refuses a duplicate; Update needs the record.
  EXPECT_EQ(store_->Apply(MetadataBatch().Create(kNs, c)).code(),
            Code::kAlreadyExists);
  MetadataBatch update;
  update.Add(MetadataBatch::Action::kUpdate, kNs, MakeContainer("nope"));
  EXPECT_EQ(store_->Apply(update).code(), Code::kNotFound);
  // Deleting content drops its owner index too.
  ASSERT_TRUE(store_->Apply(MetadataBatch().Delete(kNs, content)).ok());
  EXPECT_TRUE(store_->ContentOwners(content.digest)->empty());
  EXPECT_EQ(store_->Apply(MetadataBatch().Delete(kNs, content)).code(),
            Code::kNotFound);
}

TEST_F(MetadataTest, FailingBatchWritesNothing) {
  ASSERT_TRUE(
      store_->Apply(MetadataBatch().Create(kNs, MakeContainer("c1"))).ok());
  MetadataBatch batch;
  batch.Put(kNs, MakeImage("docker.io/new:1", "m"));
  batch.Create(kNs, MakeContainer("c2"));
  batch.Create(kNs, MakeContainer("c1"));  // exists: the batch fails
  absl::Status s = store_->Apply(batch);
  EXPECT_EQ(s.code(), Code::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("c1"));
  EXPECT_EQ(store_->GetImage(kNs, "docker.io/new:1").status().code(),
            Code::kNotFound);
  EXPECT_EQ(store_->GetContainer(kNs, "c2").status().code(), Code::kNotFound);

  // Invalid ids fail the same way.
  MetadataBatch bad;
  bad.Put(kNs, MakeImage("docker.io/new:1", "m"));
  bad.Put(kNs, MakeContainer("has/slash"));
  EXPECT_EQ(store_->Apply(bad).code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->GetImage(kNs, "docker.io/new:1").status().code(),
            Code::kNotFound);
  EXPECT_EQ(store_->PutImage("bad/ns", MakeImage("x", "m")).code(),
            Code::kInvalidArgument);
  // Later mutations see earlier ones of the same batch.
  MetadataBatch seq;
  seq.Create(kNs, MakeContainer("c3"));
  seq.Delete(kNs, MakeContainer("c3"));
  EXPECT_TRUE(store_->Apply(seq).ok());
  EXPECT_EQ(store_->GetContainer(kNs, "c3").status().code(), Code::kNotFound);
}

TEST_F(MetadataTest, DeleteImagesIsAllOrNothingAndSkipsMissing) {
  ASSERT_TRUE(store_->PutImage(kNs, MakeImage("a", "1")).ok());
  ASSERT_TRUE(store_->PutImage(kNs, MakeImage("b", "2")).ok());
  ASSERT_TRUE(store_->DeleteImages(kNs, {"a", "missing", "b"}).ok());
  EXPECT_TRUE(store_->ListImages(kNs)->empty());
}

TEST_F(MetadataTest, NamespaceLabelsKeepAnEmptyNamespaceListed) {
  EXPECT_EQ(store_->GetNamespaceLabels("empty").status().code(),
            Code::kNotFound);
  ASSERT_TRUE(store_->SetNamespaceLabels("empty", {{"a", "b"}}).ok());
  Reopen();
  absl::StatusOr<Labels> labels = store_->GetNamespaceLabels("empty");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(*labels, (Labels{{"a", "b"}}));
  EXPECT_THAT(*store_->ListNamespaces(), ElementsAre("empty"));
  // No record kind sees the labels key.
  EXPECT_TRUE(store_->ListImages("empty")->empty());
  ASSERT_TRUE(store_->DeleteNamespaceLabels("empty").ok());
  ASSERT_TRUE(store_->DeleteNamespaceLabels("empty").ok());
  EXPECT_TRUE(store_->ListNamespaces()->empty());
  EXPECT_EQ(store_->SetNamespaceLabels("a/b", {}).code(),
            Code::kInvalidArgument);
}

TEST_F(MetadataTest, LeasesHoldResourcesAndDeleteWithThem) {
  LeaseRecord lease;
  lease.labels = {{"purpose", "pull"}};
  lease.expires_at =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now())) + absl::Hours(1);
  absl::StatusOr<LeaseRecord> made = store_->CreateLease(kNs, lease);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_FALSE(made->id.empty());
  EXPECT_EQ(made->expires_at, lease.expires_at);
  LeaseResource blob{LeaseResource::Type::kContent,
                     Digest::OfBytes("x").ToString()};
  LeaseResource snap{LeaseResource::Type::kSnapshot, "overlayfs/extract-1"};
  LeaseResource ingest{LeaseResource::Type::kIngest, "fetch/with/slashes"};
  for (const LeaseResource& r : {blob, snap, ingest})
    ASSERT_TRUE(store_->AddLeaseResource(kNs, made->id, r).ok());
  EXPECT_EQ(store_->AddLeaseResource(kNs, "no-such-lease", blob).code(),
            Code::kNotFound);
  Reopen();
  absl::StatusOr<LeaseRecord> got = store_->GetLease(kNs, made->id);
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(got->resources, UnorderedElementsAre(blob, snap, ingest));
  EXPECT_EQ(got->labels.at("purpose"), "pull");
  ASSERT_EQ(store_->ListLeases(kNs)->size(), 1u);
  EXPECT_EQ((*store_->ListLeases(kNs))[0].resources.size(), 3u);

  ASSERT_TRUE(store_->DeleteLease(kNs, made->id).ok());
  EXPECT_TRUE(store_->ListLeases(kNs)->empty());
  // Its resources went with it: a new lease of the same id starts empty.
  LeaseRecord again;
  again.id = made->id;
  ASSERT_TRUE(store_->CreateLease(kNs, again).ok());
  EXPECT_TRUE(store_->GetLease(kNs, made->id)->resources.empty());
  EXPECT_EQ(store_->CreateLease(kNs, again).status().code(),
            Code::kAlreadyExists);
}

TEST_F(MetadataTest, ListNamespacesSkipsWithinANamespace) {
  for (const char* ns : {"a", "k8s.io", "k8s.io2", "z"}) {
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(
          store_->PutImage(ns, MakeImage(absl::StrCat("img", i), "m")).ok());
  }
  EXPECT_THAT(*store_->ListNamespaces(),
              ElementsAre("a", "k8s.io", "k8s.io2", "z"));
  EXPECT_EQ(store_->ListImages("k8s.io")->size(), 3u);
}

// A process that dies without closing the database: every Apply that
// returned is on disk, because writes are synced.
TEST_F(MetadataTest, SurvivesAKilledWriter) {
  store_.reset();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    absl::StatusOr<std::unique_ptr<MetadataStore>> s = OpenMetadataStore(dir_);
    if (!s.ok()) _exit(2);
    for (int i = 0; i < 20; ++i) {
      if (!(*s)->PutImage(kNs, MakeImage(absl::StrCat("img", i), "m")).ok())
        _exit(3);
    }
    raise(SIGKILL);  // no destructor, no close
    _exit(4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  Reopen();
  EXPECT_EQ(store_->ListImages(kNs)->size(), 20u);
}

TEST_F(MetadataTest, SecondOpenIsRefused) {
  absl::StatusOr<std::unique_ptr<MetadataStore>> second =
      OpenMetadataStore(dir_);
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition)
      << second.status();
}

}  // namespace
}  // namespace cradle
