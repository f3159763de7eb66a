// containerd's Introspection service (containerd.services.introspection.v1):
// cradle's parts shown as containerd's typed plugins, and the server's
// persistent UUID.
#ifndef CRADLE_CONTAINERD_API_INTROSPECTION_SERVICE_H_
#define CRADLE_CONTAINERD_API_INTROSPECTION_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// `deps` and what it points to must outlive the service.
std::unique_ptr<grpc::Service> NewIntrospectionService(
    const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_INTROSPECTION_SERVICE_H_
