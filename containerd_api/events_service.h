// containerd.services.events.v1.Events over cradled's event exchange:
// clients publish and forward envelopes, and `ctr events` subscribes.
#ifndef CRADLE_CONTAINERD_API_EVENTS_SERVICE_H_
#define CRADLE_CONTAINERD_API_EVENTS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// `deps.events` is required.
std::unique_ptr<grpc::Service> NewEventsService(const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_EVENTS_SERVICE_H_
