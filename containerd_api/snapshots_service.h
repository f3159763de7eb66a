// containerd.services.snapshots.v1.Snapshots over cradled's one snapshotter.
//
// Each namespace sees its own snapshots (snapshot_keys.h maps its keys onto
// the backend's), and every snapshot made here gets a SnapshotRecord in its
// namespace, and under a lease is put in the lease before it is made, so
// the garbage collector treats it as containerd's would. Labels live in the
// record (the backend cannot update them).
#ifndef CRADLE_CONTAINERD_API_SNAPSHOTS_SERVICE_H_
#define CRADLE_CONTAINERD_API_SNAPSHOTS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// `deps` and what it points to must outlive the service.
std::unique_ptr<grpc::Service> NewSnapshotsService(
    const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_SNAPSHOTS_SERVICE_H_
