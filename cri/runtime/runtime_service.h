// The CRI RuntimeService: pod sandboxes, containers, exec, stats, status.
//
// One .cc file per RPC (or per closely related pair). RPCs this class does
// not override answer UNIMPLEMENTED with their name (see
// cri/server/call_interceptor.h).
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
  std::string state_dir;              // pods live in <state>/pods/<id>
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
  grpc::Status RunPodSandbox(
      grpc::ServerContext* context,
      const runtime::v1::RunPodSandboxRequest* request,
      runtime::v1::RunPodSandboxResponse* response) override;
  grpc::Status StopPodSandbox(
      grpc::ServerContext* context,
      const runtime::v1::StopPodSandboxRequest* request,
      runtime::v1::StopPodSandboxResponse* response) override;
  grpc::Status RemovePodSandbox(
      grpc::ServerContext* context,
      const runtime::v1::RemovePodSandboxRequest* request,
      runtime::v1::RemovePodSandboxResponse* response) override;
  grpc::Status PodSandboxStatus(
      grpc::ServerContext* context,
      const runtime::v1::PodSandboxStatusRequest* request,
      runtime::v1::PodSandboxStatusResponse* response) override;
  grpc::Status ListPodSandbox(
      grpc::ServerContext* context,
      const runtime::v1::ListPodSandboxRequest* request,
      runtime::v1::ListPodSandboxResponse* response) override;

 private:
  // Detaches the pod's network and drops its network namespace; idempotent.
  absl::Status StopSandbox(PodRecord& record);

  const RuntimeServiceOptions options_;
};

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_RUNTIME_SERVICE_H_
