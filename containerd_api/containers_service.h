// containerd's Containers service (containerd.services.containers.v1):
// container metadata objects; the CRI's own containers in k8s.io are shown
// read-only.
#ifndef CRADLE_CONTAINERD_API_CONTAINERS_SERVICE_H_
#define CRADLE_CONTAINERD_API_CONTAINERS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// `deps` and what it points to must outlive the service.
std::unique_ptr<grpc::Service> NewContainersService(
    const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_CONTAINERS_SERVICE_H_
