// containerd's Namespaces service (containerd.services.namespaces.v1): the
// namespaces that hold metadata, with their labels.
#ifndef CRADLE_CONTAINERD_API_NAMESPACES_SERVICE_H_
#define CRADLE_CONTAINERD_API_NAMESPACES_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// `deps` and what it points to must outlive the service.
std::unique_ptr<grpc::Service> NewNamespacesService(
    const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_NAMESPACES_SERVICE_H_
