// containerd's Version service (containerd.services.version.v1): cradled's
// version and build revision.
#ifndef CRADLE_CONTAINERD_API_VERSION_SERVICE_H_
#define CRADLE_CONTAINERD_API_VERSION_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// `deps` and what it points to must outlive the service.
std::unique_ptr<grpc::Service> NewVersionService(const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_VERSION_SERVICE_H_
