// The metadata services over a real LevelDB store, through a real gRPC
// server on a unix socket, as containerd's clients call them.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "containerd_api/api_deps.h"
#include "containerd_api/containers_service.h"
#include "containerd_api/images_service.h"
#include "containerd_api/leases_service.h"
#include "containerd_api/namespaces_service.h"
#include "containerd_api/proto/services/containers/v1/containers.grpc.pb.h"
#include "containerd_api/proto/services/images/v1/images.grpc.pb.h"
#include "containerd_api/proto/services/leases/v1/leases.grpc.pb.h"
#include "containerd_api/proto/services/namespaces/v1/namespace.grpc.pb.h"
#include "metadata/leveldb_store.h"

namespace cradle::containerd_api {
namespace {

namespace images = ::containerd::services::images::v1;
namespace containers = ::containerd::services::containers::v1;
namespace leases = ::containerd::services::leases::v1;
namespace namespaces = ::containerd::services::namespaces::v1;
using Code = grpc::StatusCode;

class MetadataServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(getenv("TEST_TMPDIR"), "/svc");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto md = OpenMetadataStore(dir_ + "/metadata");
    ASSERT_TRUE(md.ok()) << md.status();
    metadata_ = *std::move(md);
    deps_.root = dir_;
    deps_.metadata = metadata_.get();
    services_.push_back(NewImagesService(deps_));
    services_.push_back(NewContainersService(deps_));
    services_.push_back(NewLeasesService(deps_));
    services_.push_back(NewNamespacesService(deps_));
    grpc::ServerBuilder builder;
    // A unix socket path must be short; TEST_TMPDIR may not be.
    char tmpl[] = "/tmp/mdsvc-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    socket_dir_ = tmpl;
    std::string address = "unix://" + socket_dir_ + "/s.sock";
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    for (auto& s : services_) builder.RegisterService(s.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel =
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    images_ = images::Images::NewStub(channel);
    containers_ = containers::Containers::NewStub(channel);
    leases_ = leases::Leases::NewStub(channel);
    namespaces_ = namespaces::Namespaces::NewStub(channel);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(socket_dir_);
  }

  std::unique_ptr<grpc::ClientContext> In(const std::string& ns) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("containerd-namespace", ns);
    return ctx;
  }

  images::Image MakeImage(const std::string& name) {
    images::Image i;
    i.set_name(name);
    i.mutable_target()->set_media_type(
        "application/vnd.oci.image.manifest.v1+json");
    i.mutable_target()->set_digest(Digest::OfBytes("m").ToString());
    i.mutable_target()->set_size(1);
    return i;
  }

  std::string dir_;
  std::string socket_dir_;
  std::unique_ptr<MetadataStore> metadata_;
  ContainerdApiDeps deps_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<images::Images::Stub> images_;
  std::unique_ptr<containers::Containers::Stub> containers_;
  std::unique_ptr<leases::Leases::Stub> leases_;
  std::unique_ptr<namespaces::Namespaces::Stub> namespaces_;
};

TEST_F(MetadataServicesTest, ImagesTagKeepsGcLabelsHiddenAndUpdates) {
  // A CRI-pulled image: its unpacked snapshot reference is cradle's label.
  ImageRecord pulled;
  pulled.name = "docker.io/library/busybox:1.36";
  pulled.target.media_type = "application/vnd.oci.image.manifest.v1+json";
  pulled.target.digest = Digest::OfBytes("m");
  pulled.target.size = 1;
  pulled.labels["cradle.io/gc.ref.snapshot.overlayfs"] = "sha256:chain";
  ASSERT_TRUE(metadata_->PutImage("k8s.io", pulled).ok());

  images::GetImageRequest get;
  get.set_name(pulled.name);
  images::GetImageResponse got;
  ASSERT_TRUE(images_->Get(In("k8s.io").get(), get, &got).ok());
  EXPECT_TRUE(got.image().labels().empty());

  images::CreateImageRequest create;
  *create.mutable_image() = got.image();
  create.mutable_image()->set_name("docker.io/library/busybox:tagged");
  images::CreateImageResponse created;
  ASSERT_TRUE(images_->Create(In("k8s.io").get(), create, &created).ok());
  EXPECT_EQ(images_->Create(In("k8s.io").get(), create, &created).error_code(),
            Code::ALREADY_EXISTS);
  auto tagged =
      metadata_->GetImage("k8s.io", "docker.io/library/busybox:tagged");
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ(tagged->labels.at("cradle.io/gc.ref.snapshot.overlayfs"),
            "sha256:chain");

  images::UpdateImageRequest update;
  update.mutable_image()->set_name("docker.io/library/busybox:tagged");
  (*update.mutable_image()->mutable_labels())["a"] = "b";
  update.mutable_update_mask()->add_paths("labels");
  images::UpdateImageResponse updated;
  ASSERT_TRUE(images_->Update(In("k8s.io").get(), update, &updated).ok());
  EXPECT_EQ(updated.image().labels().at("a"), "b");
  EXPECT_EQ(updated.image().target().digest(), Digest::OfBytes("m").ToString());
  tagged = metadata_->GetImage("k8s.io", "docker.io/library/busybox:tagged");
  EXPECT_EQ(tagged->labels.count("cradle.io/gc.ref.snapshot.overlayfs"), 1u);

  images::ListImagesRequest list;
  list.add_filters("labels.a==b");
  images::ListImagesResponse listed;
  ASSERT_TRUE(images_->List(In("k8s.io").get(), list, &listed).ok());
  ASSERT_EQ(listed.images_size(), 1);

  images::DeleteImageRequest del;
  del.set_name("docker.io/library/busybox:tagged");
  google::protobuf::Empty empty;
  ASSERT_TRUE(images_->Delete(In("k8s.io").get(), del, &empty).ok());
  EXPECT_EQ(images_->Delete(In("k8s.io").get(), del, &empty).error_code(),
            Code::NOT_FOUND);
  EXPECT_EQ(images_->Get(In("other").get(), get, &got).error_code(),
            Code::NOT_FOUND);
}

TEST_F(MetadataServicesTest, ContainersRoundTripAndCriOnesAreReadOnly) {
  containers::CreateContainerRequest create;
  containers::Container* c = create.mutable_container();
  c->set_id("web");
  c->set_image("docker.io/library/nginx:latest");
  c->mutable_runtime()->set_name("io.containerd.runc.v2");
  c->mutable_spec()->set_type_url(
      "types.containerd.io/opencontainers/runtime-spec/1/Spec");
  c->mutable_spec()->set_value("{\"ociVersion\":\"1.0.2\"}");
  c->set_snapshotter("overlayfs");
  c->set_snapshot_key("web");
  (*c->mutable_extensions())["x"].set_value("y");
  containers::CreateContainerResponse created;
  ASSERT_TRUE(containers_->Create(In("default").get(), create, &created).ok());
  EXPECT_EQ(created.container().snapshot_key(), "web");
  EXPECT_EQ(created.container().runtime().name(), "io.containerd.runc.v2");
  EXPECT_EQ(created.container().extensions().size(), 1u);
  EXPECT_EQ(created.container().spec().value(), c->spec().value());
  auto record = metadata_->GetContainer("default", "web");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->snapshot_key, "default/web");

  containers::UpdateContainerRequest update;
  update.mutable_container()->set_id("web");
  (*update.mutable_container()->mutable_labels())["k"] = "v";
  update.mutable_update_mask()->add_paths("labels.k");
  containers::UpdateContainerResponse updated;
  ASSERT_TRUE(containers_->Update(In("default").get(), update, &updated).ok());
  EXPECT_EQ(updated.container().labels().at("k"), "v");
  EXPECT_EQ(updated.container().image(), "docker.io/library/nginx:latest");

  // A CRI container (no runtime extension) in k8s.io.
  ContainerRecord cri;
  cri.id = "abc123";
  cri.image = "docker.io/library/busybox:1.36";
  cri.spec = "{}";
  MetadataBatch batch;
  batch.Create("k8s.io", cri);
  ASSERT_TRUE(metadata_->Apply(batch).ok());
  containers::ListContainersRequest list;
  containers::ListContainersResponse listed;
  ASSERT_TRUE(containers_->List(In("k8s.io").get(), list, &listed).ok());
  ASSERT_EQ(listed.containers_size(), 1);
  EXPECT_EQ(listed.containers(0).runtime().name(), "io.containerd.runc.v2");
  containers::DeleteContainerRequest del;
  del.set_id("abc123");
  google::protobuf::Empty empty;
  EXPECT_EQ(containers_->Delete(In("k8s.io").get(), del, &empty).error_code(),
            Code::FAILED_PRECONDITION);

  namespaces::DeleteNamespaceRequest ns_del;
  ns_del.set_name("default");
  grpc::ClientContext ctx;
  grpc::Status refused = namespaces_->Delete(&ctx, ns_del, &empty);
  EXPECT_EQ(refused.error_code(), Code::FAILED_PRECONDITION);
  EXPECT_NE(refused.error_message().find("containers"), std::string::npos);

  del.set_id("web");
  ASSERT_TRUE(containers_->Delete(In("default").get(), del, &empty).ok());
  grpc::ClientContext ctx2;
  EXPECT_EQ(namespaces_->Delete(&ctx2, ns_del, &empty).error_code(),
            Code::NOT_FOUND);
}

TEST_F(MetadataServicesTest, LeasesMapSnapshotKeysAndExpiry) {
  leases::CreateRequest create;
  create.set_id("l1");
  (*create.mutable_labels())["containerd.io/gc.expire"] =
      "2030-01-02T03:04:05Z";
  leases::CreateResponse created;
  ASSERT_TRUE(leases_->Create(In("ns1").get(), create, &created).ok());
  auto lease = metadata_->GetLease("ns1", "l1");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->expires_at, absl::FromUnixSeconds(1893553445));

  leases::AddResourceRequest add;
  add.set_id("l1");
  add.mutable_resource()->set_type("snapshots/overlayfs");
  add.mutable_resource()->set_id("k1");
  google::protobuf::Empty empty;
  ASSERT_TRUE(leases_->AddResource(In("ns1").get(), add, &empty).ok());
  lease = metadata_->GetLease("ns1", "l1");
  ASSERT_EQ(lease->resources.size(), 1u);
  EXPECT_EQ(lease->resources[0].id, "overlayfs/ns1/k1");

  leases::ListResourcesRequest list;
  list.set_id("l1");
  leases::ListResourcesResponse listed;
  ASSERT_TRUE(leases_->ListResources(In("ns1").get(), list, &listed).ok());
  ASSERT_EQ(listed.resources_size(), 1);
  EXPECT_EQ(listed.resources(0).type(), "snapshots/overlayfs");
  EXPECT_EQ(listed.resources(0).id(), "k1");

  leases::DeleteResourceRequest del;
  del.set_id("l1");
  *del.mutable_resource() = add.resource();
  ASSERT_TRUE(leases_->DeleteResource(In("ns1").get(), del, &empty).ok());
  EXPECT_TRUE(metadata_->GetLease("ns1", "l1")->resources.empty());

  add.mutable_resource()->set_type("bogus");
  EXPECT_EQ(leases_->AddResource(In("ns1").get(), add, &empty).error_code(),
            Code::INVALID_ARGUMENT);
}

TEST_F(MetadataServicesTest, ImageRetargetDropsTheOldSnapshotRef) {
  ImageRecord pulled;
  pulled.name = "docker.io/library/busybox:1.36";
  pulled.target.media_type = "application/vnd.oci.image.manifest.v1+json";
  pulled.target.digest = Digest::OfBytes("m");
  pulled.target.size = 1;
  pulled.labels["cradle.io/gc.ref.snapshot.overlayfs"] = "sha256:chain";
  ASSERT_TRUE(metadata_->PutImage("k8s.io", pulled).ok());

  // Labels alone keep the ref: the target and its chain are unchanged.
  images::UpdateImageRequest update;
  *update.mutable_image() = MakeImage(pulled.name);
  (*update.mutable_image()->mutable_labels())["a"] = "b";
  images::UpdateImageResponse updated;
  ASSERT_TRUE(images_->Update(In("k8s.io").get(), update, &updated).ok());
  EXPECT_EQ(metadata_->GetImage("k8s.io", pulled.name)
                ->labels.count("cradle.io/gc.ref.snapshot.overlayfs"),
            1u);

  update.mutable_image()->mutable_target()->set_digest(
      Digest::OfBytes("other").ToString());
  update.mutable_update_mask()->add_paths("target");
  ASSERT_TRUE(images_->Update(In("k8s.io").get(), update, &updated).ok());
  auto record = metadata_->GetImage("k8s.io", pulled.name);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->labels.count("cradle.io/gc.ref.snapshot.overlayfs"), 0u);
  EXPECT_EQ(record->labels.at("a"), "b");

  // Back to a target another image keeps unpacked: its ref is shared.
  ImageRecord other = pulled;
  other.name = "docker.io/library/busybox:other";
  ASSERT_TRUE(metadata_->PutImage("k8s.io", other).ok());
  update.mutable_image()->mutable_target()->set_digest(
      Digest::OfBytes("m").ToString());
  ASSERT_TRUE(images_->Update(In("k8s.io").get(), update, &updated).ok());
  EXPECT_EQ(metadata_->GetImage("k8s.io", pulled.name)
                ->labels.at("cradle.io/gc.ref.snapshot.overlayfs"),
            "sha256:chain");
}

TEST_F(MetadataServicesTest, CriPullLeasesCannotBeDropped) {
  LeaseRecord pull;
  pull.id = "pull-1";
  pull.labels["cradle.io/pull"] = "docker.io/library/busybox:1.36";
  ASSERT_TRUE(metadata_->CreateLease("k8s.io", pull).ok());
  google::protobuf::Empty empty;

  leases::DeleteRequest del;
  del.set_id("pull-1");
  grpc::Status s = leases_->Delete(In("k8s.io").get(), del, &empty);
  EXPECT_EQ(s.error_code(), Code::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("CRI image pull in progress"),
            std::string::npos);
  leases::DeleteResourceRequest del_res;
  del_res.set_id("pull-1");
  del_res.mutable_resource()->set_type("content");
  del_res.mutable_resource()->set_id(Digest::OfBytes("x").ToString());
  EXPECT_EQ(
      leases_->DeleteResource(In("k8s.io").get(), del_res, &empty).error_code(),
      Code::FAILED_PRECONDITION);
  EXPECT_TRUE(metadata_->GetLease("k8s.io", "pull-1").ok());

  // Clients cannot make such a lease, and their own go as before.
  leases::CreateRequest create;
  create.set_id("mine");
  (*create.mutable_labels())["cradle.io/pull"] = "x";
  leases::CreateResponse created;
  EXPECT_EQ(leases_->Create(In("k8s.io").get(), create, &created).error_code(),
            Code::INVALID_ARGUMENT);
  create.clear_labels();
  ASSERT_TRUE(leases_->Create(In("k8s.io").get(), create, &created).ok());
  del.set_id("mine");
  EXPECT_TRUE(leases_->Delete(In("k8s.io").get(), del, &empty).ok());
}

TEST_F(MetadataServicesTest, OversizedLabelsAreRefused) {
  const std::string big(4097, 'v');
  images::CreateImageRequest image;
  *image.mutable_image() = MakeImage("docker.io/library/big:1");
  (*image.mutable_image()->mutable_labels())["k"] = big;
  images::CreateImageResponse image_resp;
  grpc::Status s = images_->Create(In("ns1").get(), image, &image_resp);
  EXPECT_EQ(s.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("\"k\""), std::string::npos);

  leases::CreateRequest lease;
  lease.set_id("l");
  (*lease.mutable_labels())["k"] = big;
  leases::CreateResponse lease_resp;
  EXPECT_EQ(leases_->Create(In("ns1").get(), lease, &lease_resp).error_code(),
            Code::INVALID_ARGUMENT);

  namespaces::CreateNamespaceRequest ns;
  ns.mutable_namespace_()->set_name("bigns");
  (*ns.mutable_namespace_()->mutable_labels())["k"] = big;
  namespaces::CreateNamespaceResponse ns_resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(namespaces_->Create(&ctx, ns, &ns_resp).error_code(),
            Code::INVALID_ARGUMENT);

  // At the limit is fine.
  (*image.mutable_image()->mutable_labels())["k"] = std::string(4095, 'v');
  EXPECT_TRUE(images_->Create(In("ns1").get(), image, &image_resp).ok());
}

}  // namespace
}  // namespace cradle::containerd_api
