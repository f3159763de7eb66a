// containerd's Tasks service (containerd.services.tasks.v1): runs the
// containers a containerd client (ctr) made, each task with a cradle-shim of
// its own driving the container's runtime; processes added by exec id. The
// CRI's containers (namespace k8s.io) are listed read-only.
#ifndef CRADLE_CONTAINERD_API_TASKS_SERVICE_H_
#define CRADLE_CONTAINERD_API_TASKS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// The service is also a Recoverable: it finds the shims of tasks that
// outlived the daemon. `deps` and what it points to must outlive it.
std::unique_ptr<grpc::Service> NewTasksService(const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_TASKS_SERVICE_H_
