// containerd's gRPC services (containerd.services.*.v1), served by cradled
// on the CRI's socket next to the CRI services, as containerd does.
#ifndef CRADLE_CONTAINERD_API_SERVICES_H_
#define CRADLE_CONTAINERD_API_SERVICES_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <memory>
#include <vector>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// Every service; `deps` and what it points to must outlive them.
std::vector<std::unique_ptr<grpc::Service>> NewContainerdServices(
    const ContainerdApiDeps& deps);

// Work a service does after the daemon's recovery and before serving (tasks
// reconnect to their shims). Safe to call once.
void RecoverContainerdServices(
    const std::vector<std::unique_ptr<grpc::Service>>& services);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_SERVICES_H_
