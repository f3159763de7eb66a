// The snapshots and diff services over a real local snapshotter, metadata
// store and content store in a temp dir, through an in-process channel.
#include "containerd_api/snapshots_service.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "containerd_api/api_deps.h"
#include "containerd_api/content_service.h"
#include "containerd_api/diff_service.h"
#include "containerd_api/proto/services/content/v1/content.grpc.pb.h"
#include "containerd_api/proto/services/diff/v1/diff.grpc.pb.h"
#include "containerd_api/proto/services/snapshots/v1/snapshots.grpc.pb.h"
#include "content/local/local_store.h"
#include "cri/store/container_store.h"
#include "gtest/gtest.h"
#include "metadata/content_store.h"
#include "metadata/leveldb_store.h"
#include "snapshots/apply/apply.h"
#include "snapshots/local/snapshotter.h"

namespace cradle::containerd_api {
namespace {

namespace sv1 = ::containerd::services::snapshots::v1;
namespace dv1 = ::containerd::services::diff::v1;
namespace cv1 = ::containerd::services::content::v1;
namespace fs = std::filesystem;

class SnapshotsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-snapsvc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto metadata = OpenMetadataStore(dir_ + "/metadata");
    ASSERT_TRUE(metadata.ok()) << metadata.status();
    metadata_ = *std::move(metadata);
    auto content = OpenLocalContentStore(dir_ + "/content");
    ASSERT_TRUE(content.ok()) << content.status();
    content_ = *std::move(content);
    auto snapshotter = OpenLocalSnapshotter(dir_ + "/snapshots/overlayfs",
                                            SnapshotDriver::kOverlay);
    ASSERT_TRUE(snapshotter.ok()) << snapshotter.status();
    snapshotter_ = *std::move(snapshotter);

    deps_.metadata = metadata_.get();
    deps_.content = content_.get();
    deps_.snapshotter = snapshotter_.get();
    deps_.applier = snapshotter_.get();
    deps_.snapshotter_name = "overlayfs";
    deps_.snapshot_root = dir_ + "/snapshots/overlayfs";
    deps_.state = dir_ + "/state";
    deps_.unpack_limits = &limits_;
    auto cri = ContainerStore::Open(metadata_.get(), "k8s.io");
    ASSERT_TRUE(cri.ok()) << cri.status();
    cri_ = *std::move(cri);
    deps_.cri_containers = cri_.get();
    snapshots_ = NewSnapshotsService(deps_);
    diff_ = NewDiffService(deps_);
    grpc::ServerBuilder builder;
    builder.RegisterService(snapshots_.get());
    builder.RegisterService(diff_.get());
    server_ = builder.BuildAndStart();
    auto channel = server_->InProcessChannel(grpc::ChannelArguments());
    snap_ = sv1::Snapshots::NewStub(channel);
    diff_stub_ = dv1::Diff::NewStub(channel);
  }

  void TearDown() override {
    server_->Shutdown();
    server_.reset();
    snapshotter_.reset();
    fs::remove_all(dir_);
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(
      const std::string& ns, const std::string& lease = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("containerd-namespace", ns);
    if (!lease.empty()) ctx->AddMetadata("containerd-lease", lease);
    return ctx;
  }

  grpc::Status Prepare(const std::string& ns, const std::string& key,
                       const std::string& parent,
                       sv1::PrepareSnapshotResponse* resp = nullptr,
                       const std::string& lease = "") {
    sv1::PrepareSnapshotRequest req;
    req.set_key(key);
    req.set_parent(parent);
    sv1::PrepareSnapshotResponse ignored;
    return snap_->Prepare(Ctx(ns, lease).get(), req,
                          resp != nullptr ? resp : &ignored);
  }

  grpc::Status Commit(const std::string& ns, const std::string& name,
                      const std::string& key) {
    sv1::CommitSnapshotRequest req;
    req.set_name(name);
    req.set_key(key);
    google::protobuf::Empty empty;
    return snap_->Commit(Ctx(ns).get(), req, &empty);
  }

  std::vector<sv1::Info> List(const std::string& ns) {
    sv1::ListSnapshotsRequest req;
    auto ctx = Ctx(ns);
    auto reader = snap_->List(ctx.get(), req);
    std::vector<sv1::Info> out;
    sv1::ListSnapshotsResponse page;
    while (reader->Read(&page)) {
      for (const auto& i : page.info()) out.push_back(i);
    }
    EXPECT_TRUE(reader->Finish().ok());
    return out;
  }

  // A one-file layer, as `tar` writes it, in namespace `ns`'s content.
  Digest PutLayer(const std::string& ns, std::string* bytes_out = nullptr) {
    std::string src = dir_ + "/layer-src";
    fs::create_directories(src);
    std::ofstream(src + "/hello") << "world";
    std::string tar = dir_ + "/layer.tar";
    EXPECT_EQ(
        system(absl::StrCat("tar -C ", src, " -cf ", tar, " hello").c_str()),
        0);
    std::stringstream bytes;
    bytes << std::ifstream(tar).rdbuf();
    Digest digest = Digest::OfBytes(bytes.str());
    auto ns_content =
        NamespacedContentStore::Create(content_.get(), metadata_.get(), ns, "");
    if (!ns_content->Info(digest).ok()) {
      auto writer = ns_content->Writer("layer", bytes.str().size(), digest);
      EXPECT_TRUE(writer.ok()) << writer.status();
      EXPECT_TRUE((*writer)->Write(bytes.str()).ok());
      EXPECT_TRUE((*writer)->Commit(bytes.str().size(), digest).ok());
    }
    if (bytes_out != nullptr) *bytes_out = bytes.str();
    return digest;
  }

  dv1::ApplyRequest ApplyOf(const Digest& digest) {
    dv1::ApplyRequest apply;
    apply.mutable_diff()->set_media_type(
        "application/vnd.oci.image.layer.v1.tar");
    apply.mutable_diff()->set_digest(digest.ToString());
    return apply;
  }

  // A CRI container in k8s.io whose root is backend snapshot `key`.
  void AddCriContainer(const std::string& id, const std::string& key) {
    CriContainer c;
    c.id = id;
    c.pod_id = "pod";
    c.name = id;
    c.snapshotter = "overlayfs";
    c.snapshot_key = key;
    ASSERT_TRUE(cri_->Add(c).ok());
  }

  std::string dir_;
  ApplyLimits limits_;
  std::unique_ptr<ContainerStore> cri_;
  std::unique_ptr<MetadataStore> metadata_;
  std::unique_ptr<ContentStore> content_;
  std::unique_ptr<LocalSnapshotter> snapshotter_;
  ContainerdApiDeps deps_;
  std::unique_ptr<grpc::Service> snapshots_, diff_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<sv1::Snapshots::Stub> snap_;
  std::unique_ptr<dv1::Diff::Stub> diff_stub_;
};

TEST_F(SnapshotsServiceTest, NamespacesAreIsolatedAndRecorded) {
  ASSERT_TRUE(Prepare("a", "base", "").ok());
  ASSERT_TRUE(Prepare("b", "base", "").ok());  // same key, other namespace
  ASSERT_TRUE(Commit("a", "base-c", "base").ok());

  std::vector<sv1::Info> a = List("a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].name(), "base-c");
  EXPECT_EQ(a[0].kind(), sv1::COMMITTED);
  std::vector<sv1::Info> b = List("b");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].name(), "base");
  EXPECT_EQ(b[0].kind(), sv1::ACTIVE);

  auto records = metadata_->ListSnapshots("a");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].key, "a/base-c");
  EXPECT_TRUE(snapshotter_->Stat("b/base").ok());

  sv1::PrepareSnapshotResponse child;
  ASSERT_TRUE(Prepare("a", "child", "base-c", &child).ok());
  ASSERT_EQ(child.mounts_size(), 1);
  EXPECT_EQ(child.mounts(0).type(), "overlay");
  // b cannot build on a's snapshot.
  EXPECT_EQ(Prepare("b", "child", "base-c").error_code(),
            grpc::StatusCode::NOT_FOUND);

  sv1::RemoveSnapshotRequest rm;
  rm.set_key("child");
  google::protobuf::Empty empty;
  ASSERT_TRUE(snap_->Remove(Ctx("a").get(), rm, &empty).ok());
  EXPECT_FALSE(snapshotter_->Stat("a/child").ok());
  EXPECT_EQ(metadata_->ListSnapshots("a")->size(), 1u);
}

TEST_F(SnapshotsServiceTest, RefusesWhatItCannotServe) {
  EXPECT_EQ(Prepare("k8s.io", "a/b", "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  sv1::PrepareSnapshotRequest req;
  req.set_snapshotter("btrfs");
  req.set_key("k");
  sv1::PrepareSnapshotResponse resp;
  EXPECT_EQ(snap_->Prepare(Ctx("a").get(), req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // The CRI's namespace maps keys as they are.
  ASSERT_TRUE(Prepare("k8s.io", "plain", "").ok());
  EXPECT_TRUE(snapshotter_->Stat("plain").ok());
}

TEST_F(SnapshotsServiceTest, LeasedPrepareIsHeldByTheLease) {
  LeaseRecord lease;
  lease.id = "pull";
  ASSERT_TRUE(metadata_->CreateLease("a", lease).ok());
  ASSERT_TRUE(Prepare("a", "extract-1 sha256:x", "", nullptr, "pull").ok());
  auto held = metadata_->GetLease("a", "pull");
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->resources.size(), 1u);
  EXPECT_EQ(held->resources[0].id, "overlayfs/a/extract-1 sha256:x");
  // A lease that does not exist is refused before anything is made.
  EXPECT_FALSE(Prepare("a", "k2", "", nullptr, "nope").ok());
  EXPECT_FALSE(snapshotter_->Stat("a/k2").ok());
}

TEST_F(SnapshotsServiceTest, UpdateSetsAndDropsLabels) {
  sv1::PrepareSnapshotRequest req;
  req.set_key("k");
  (*req.mutable_labels())["keep"] = "1";
  (*req.mutable_labels())["drop"] = "2";
  sv1::PrepareSnapshotResponse resp;
  ASSERT_TRUE(snap_->Prepare(Ctx("a").get(), req, &resp).ok());
  sv1::UpdateSnapshotRequest update;
  update.mutable_info()->set_name("k");
  (*update.mutable_info()->mutable_labels())["new"] = "3";
  update.mutable_update_mask()->add_paths("labels.new");
  update.mutable_update_mask()->add_paths("labels.drop");
  sv1::UpdateSnapshotResponse updated;
  ASSERT_TRUE(snap_->Update(Ctx("a").get(), update, &updated).ok());
  std::map<std::string, std::string> labels(updated.info().labels().begin(),
                                            updated.info().labels().end());
  EXPECT_EQ(labels,
            (std::map<std::string, std::string>{{"keep", "1"}, {"new", "3"}}));
}

TEST_F(SnapshotsServiceTest, DiffAppliesALayerIntoAPreparedSnapshot) {
  // A one-file layer, as `tar` writes it.
  std::string src = dir_ + "/layer-src";
  fs::create_directories(src);
  std::ofstream(src + "/hello") << "world";
  std::string tar = dir_ + "/layer.tar";
  ASSERT_EQ(
      system(absl::StrCat("tar -C ", src, " -cf ", tar, " hello").c_str()), 0);
  std::stringstream bytes;
  bytes << std::ifstream(tar).rdbuf();
  Digest digest = Digest::OfBytes(bytes.str());
  auto ns_content =
      NamespacedContentStore::Create(content_.get(), metadata_.get(), "a", "");
  auto writer = ns_content->Writer("layer", bytes.str().size(), digest);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Write(bytes.str()).ok());
  ASSERT_TRUE((*writer)->Commit(bytes.str().size(), digest).ok());

  ASSERT_TRUE(Prepare("a", "base", "").ok());
  ASSERT_TRUE(Commit("a", "base-c", "base").ok());
  sv1::PrepareSnapshotResponse prepared;
  ASSERT_TRUE(Prepare("a", "extract", "base-c", &prepared).ok());

  dv1::ApplyRequest apply;
  apply.mutable_diff()->set_media_type(
      "application/vnd.oci.image.layer.v1.tar");
  apply.mutable_diff()->set_digest(digest.ToString());
  apply.mutable_diff()->set_size(bytes.str().size());
  *apply.mutable_mounts() = prepared.mounts();
  dv1::ApplyResponse applied;
  grpc::Status s = diff_stub_->Apply(Ctx("a").get(), apply, &applied);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(applied.applied().digest(), digest.ToString());
  auto target = snapshotter_->ApplyTarget("a/extract");
  ASSERT_TRUE(target.ok());
  std::stringstream hello;
  hello << std::ifstream(target->dir + "/hello").rdbuf();
  EXPECT_EQ(hello.str(), "world");

  // Another namespace has no such blob.
  ASSERT_TRUE(Prepare("b", "extract", "").ok());
  EXPECT_EQ(diff_stub_->Apply(Ctx("b").get(), apply, &applied).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(SnapshotsServiceTest, CriContainerRootsCannotBeCommittedOrApplied) {
  sv1::PrepareSnapshotResponse root;
  ASSERT_TRUE(Prepare("k8s.io", "ctr1", "", &root).ok());
  AddCriContainer("ctr1", "ctr1");

  // Committing would re-key the live layer away from the container.
  grpc::Status commit = Commit("k8s.io", "foo", "ctr1");
  EXPECT_EQ(commit.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << commit.error_message();
  EXPECT_NE(commit.error_message().find("ctr1"), std::string::npos);
  auto info = snapshotter_->Stat("ctr1");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->kind, SnapshotKind::kActive);
  EXPECT_FALSE(snapshotter_->Stat("foo").ok());

  dv1::ApplyRequest apply = ApplyOf(PutLayer("k8s.io"));
  *apply.mutable_mounts() = root.mounts();
  dv1::ApplyResponse applied;
  EXPECT_EQ(
      diff_stub_->Apply(Ctx("k8s.io").get(), apply, &applied).error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);

  // Other snapshots of k8s.io still commit.
  ASSERT_TRUE(Prepare("k8s.io", "plain", "").ok());
  EXPECT_TRUE(Commit("k8s.io", "plain-c", "plain").ok());
}

TEST_F(SnapshotsServiceTest, DiffChecksEveryWritableMount) {
  dv1::ApplyRequest apply = ApplyOf(PutLayer("a"));
  sv1::PrepareSnapshotResponse mine, theirs;
  ASSERT_TRUE(Prepare("a", "mine", "", &mine).ok());
  ASSERT_TRUE(Prepare("b", "theirs", "", &theirs).ok());
  ASSERT_EQ(theirs.mounts_size(), 1);
  dv1::ApplyResponse applied;

  // A second mount writing into b's snapshot.
  *apply.mutable_mounts() = mine.mounts();
  *apply.add_mounts() = theirs.mounts(0);
  EXPECT_EQ(diff_stub_->Apply(Ctx("a").get(), apply, &applied).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // An overlay whose upperdir is b's snapshot (reached through "..").
  auto target = snapshotter_->ApplyTarget("b/theirs");
  ASSERT_TRUE(target.ok());
  apply.clear_mounts();
  auto* overlay = apply.add_mounts();
  overlay->set_type("overlay");
  overlay->set_source("overlay");
  overlay->add_options(absl::StrCat("lowerdir=", dir_));
  overlay->add_options(absl::StrCat("upperdir=", target->dir, "/../fs"));
  overlay->add_options(absl::StrCat("workdir=", dir_, "/work"));
  EXPECT_EQ(diff_stub_->Apply(Ctx("a").get(), apply, &applied).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // A writable bind of the whole snapshot root.
  apply.clear_mounts();
  auto* bind = apply.add_mounts();
  bind->set_type("bind");
  bind->set_source(deps_.snapshot_root);
  bind->add_options("rbind");
  EXPECT_EQ(diff_stub_->Apply(Ctx("a").get(), apply, &applied).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // A's own snapshot is still applied into.
  *apply.mutable_mounts() = mine.mounts();
  grpc::Status ok = diff_stub_->Apply(Ctx("a").get(), apply, &applied);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
}

TEST_F(SnapshotsServiceTest, RefusesOversizedLabels) {
  sv1::PrepareSnapshotRequest req;
  req.set_key("k");
  (*req.mutable_labels())["big"] = std::string(5000, 'x');
  sv1::PrepareSnapshotResponse resp;
  grpc::Status s = snap_->Prepare(Ctx("a").get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("\"big\""), std::string::npos);
  EXPECT_FALSE(snapshotter_->Stat("a/k").ok());
}

TEST_F(SnapshotsServiceTest, DigestlessWriteStopsShortOfTheFreeSpaceReserve) {
  // A reserve no disk has: the first spooled byte is refused.
  limits_.min_free_bytes = int64_t{1} << 62;
  deps_.root = dir_ + "/root";
  std::unique_ptr<grpc::Service> content = NewContentService(deps_);
  grpc::ServerBuilder builder;
  builder.RegisterService(content.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub =
      cv1::Content::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  auto ctx = Ctx("a");
  auto stream = stub->Write(ctx.get());
  cv1::WriteContentRequest req;
  req.set_action(cv1::WRITE);
  req.set_ref("import-1");
  req.set_data("some bytes");
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  cv1::WriteContentResponse resp;
  while (stream->Read(&resp)) {
  }
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  server->Shutdown();
}

}  // namespace
}  // namespace cradle::containerd_api
