// The streaming server's view of the runtime: exec and attach through the
// pod's shim, and connections dialled inside the pod's network namespace.
#ifndef CRADLE_CRI_RUNTIME_POD_STREAMS_H_
#define CRADLE_CRI_RUNTIME_POD_STREAMS_H_

#include <string>

#include "cri/runtime/pod_shims.h"
#include "cri/store/container_store.h"
#include "cri/store/sandbox_store.h"
#include "streaming/runtime.h"

namespace cradle {

class PodStreams final : public streaming::StreamingRuntime {
 public:
  PodStreams(ContainerStore* containers, SandboxStore* sandboxes,
             PodShims* shims)
      : containers_(containers), sandboxes_(sandboxes), shims_(shims) {}

  absl::StatusOr<int> Exec(const streaming::ExecOptions& options,
                           streaming::CommandIo* io) override;
  absl::Status Attach(const streaming::AttachOptions& options,
                      streaming::CommandIo* io) override;
  absl::StatusOr<int> DialPod(const std::string& pod_id, int32_t port) override;

 private:
  struct Target {
    CriContainer container;
    ShimRef shim;
  };
  // The container and its pod's shim.
  absl::StatusOr<Target> Find(const std::string& id);

  ContainerStore* const containers_;
  SandboxStore* const sandboxes_;
  PodShims* const shims_;
};

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_POD_STREAMS_H_
