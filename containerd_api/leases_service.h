// containerd's Leases service (containerd.services.leases.v1): leases and the
// resources they keep from the garbage collector.
#ifndef CRADLE_CONTAINERD_API_LEASES_SERVICE_H_
#define CRADLE_CONTAINERD_API_LEASES_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// `deps` and what it points to must outlive the service.
std::unique_ptr<grpc::Service> NewLeasesService(const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_LEASES_SERVICE_H_
