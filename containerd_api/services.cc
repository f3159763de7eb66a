#include "containerd_api/services.h"

// Each service's factory (one header per service).
// [factory includes]

namespace cradle::containerd_api {

std::vector<std::unique_ptr<grpc::Service>> NewContainerdServices(
    const ContainerdApiDeps& deps) {
  std::vector<std::unique_ptr<grpc::Service>> services;
  // [services]
  return services;
}

void RecoverContainerdServices(
    const std::vector<std::unique_ptr<grpc::Service>>& services) {
  for (const auto& service : services) {
    if (auto* recoverable = dynamic_cast<Recoverable*>(service.get())) {
      recoverable->Recover();
    }
  }
}

}  // namespace cradle::containerd_api
