#include "containerd_api/version_service.h"

#include "containerd_api/proto/services/version/v1/version.grpc.pb.h"

namespace cradle::containerd_api {
namespace {

namespace pb = ::containerd::services::version::v1;

class VersionService final : public pb::Version::Service {
 public:
  explicit VersionService(const ContainerdApiDeps& deps) : deps_(deps) {}

  grpc::Status Version(grpc::ServerContext*, const google::protobuf::Empty*,
                       pb::VersionResponse* response) override {
    response->set_version(deps_.version);
    response->set_revision(deps_.revision);
    return grpc::Status::OK;
  }

 private:
  const ContainerdApiDeps& deps_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewVersionService(
    const ContainerdApiDeps& deps) {
  return std::make_unique<VersionService>(deps);
}

}  // namespace cradle::containerd_api
