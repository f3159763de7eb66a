// The CRI RuntimeService: pod sandboxes, containers, exec, stats, status.
//
// One .cc file per RPC. RPCs this class does not override answer
// UNIMPLEMENTED with their name (see cri/server/unimplemented_interceptor.h).
#ifndef CRADLE_CRI_RUNTIME_RUNTIME_SERVICE_H_
#define CRADLE_CRI_RUNTIME_RUNTIME_SERVICE_H_

#include <memory>
#include <string>

#include "cri/api/runtime/v1/cri.h"
#include "cri/runtime/readiness.h"
#include "cri/store/sandbox_store.h"
#include "network/pod_network.h"

namespace cradle {

struct RuntimeServiceOptions {
  std::string runtime_version;  // cradle's release, e.g. "0.1.0"
  std::string config_json;      // effective config, for Status(verbose)
  std::unique_ptr<ReadinessCheck> runtime_ready;
  std::unique_ptr<ReadinessCheck> network_ready;
  SandboxStore* sandboxes = nullptr;  // not owned
  PodNetwork* network = nullptr;      // not owned
  std::string state_dir;              // <state>; pods live in <state>/pods/<id>
};

// Thread-safe: gRPC calls the handlers from many threads.
class RuntimeService final : public runtime::v1::RuntimeService::Service {
 public:
  explicit RuntimeService(RuntimeServiceOptions options);

  grpc::Status Version(grpc::ServerContext* context,
                       const runtime::v1::VersionRequest* request,
                       runtime::v1::VersionResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context,
                      const runtime::v1::StatusRequest* request,
                      runtime::v1::StatusResponse* response) override;

 private:
  // Detaches the pod's network and namespaces; idempotent.
  absl::Status StopSandbox(SandboxRecord& record);
  const RuntimeServiceOptions options_;
};

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_RUNTIME_SERVICE_H_
