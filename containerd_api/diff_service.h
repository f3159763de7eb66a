// containerd.services.diff.v1.Diff: Apply unpacks a layer blob of the
// caller's namespace into mounts with cradle's own (contained, bounded)
// layer applier. When the mounts are an active snapshot of cradled's
// snapshotter the layer goes straight into its directory, as the CRI's
// puller does; other mounts are mounted privately and written through.
// Diff (computing a layer from two trees) is not implemented.
#ifndef CRADLE_CONTAINERD_API_DIFF_SERVICE_H_
#define CRADLE_CONTAINERD_API_DIFF_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// `deps` and what it points to must outlive the service.
std::unique_ptr<grpc::Service> NewDiffService(const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_DIFF_SERVICE_H_
