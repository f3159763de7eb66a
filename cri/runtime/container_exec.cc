// ExecSync, ReopenContainerLog and UpdateContainerResources: calls that go
// to a running container through its shim.
#include "absl/strings/str_cat.h"
#include "cri/runtime/container_spec.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"

namespace cradle {
namespace {

// Cap on what ExecSync returns per stream, as the kubelet's probes expect.
constexpr size_t kMaxExecOutput = 16 << 20;

}  // namespace

grpc::Status RuntimeService::FindRunning(const char* rpc, const std::string& id,
                                         CriContainer* out) {
  absl::StatusOr<CriContainer> found = options_.containers->Get(id);
  if (!found.ok()) return ToGrpc(found.status());
  *out = Refresh(*found);
  if (out->state != CriContainer::kRunning) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat(rpc, ": container ", out->id, " is not running"));
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ExecSync(
    grpc::ServerContext*, const runtime::v1::ExecSyncRequest* request,
    runtime::v1::ExecSyncResponse* response) {
  if (request->cmd().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "ExecSync: cmd is empty");
  }
  CriContainer c;
  if (grpc::Status s = FindRunning("ExecSync", request->container_id(), &c);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<ShimRef> shim = options_.shims->Get(c.pod_id);
  if (!shim.ok()) return ToGrpc(shim.status());
  std::vector<std::string> cmd(request->cmd().begin(), request->cmd().end());
  absl::StatusOr<ExecSyncResult> result = (*shim)->ExecSync(
      c.id, cmd, absl::Seconds(request->timeout()), kMaxExecOutput);
  if (!result.ok()) {
    return ToGrpc(absl::Status(
        result.status().code(),
        absl::StrCat("ExecSync in ", c.id, ": ", result.status().message())));
  }
  if (result->timed_out) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        absl::StrCat("ExecSync: command timed out after ",
                                     request->timeout(), "s and was killed"));
  }
  response->set_stdout(result->stdout_data);
  response->set_stderr(result->stderr_data);
  response->set_exit_code(result->exit_code);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ReopenContainerLog(
    grpc::ServerContext*, const runtime::v1::ReopenContainerLogRequest* request,
    runtime::v1::ReopenContainerLogResponse*) {
  absl::StatusOr<CriContainer> found =
      options_.containers->Get(request->container_id());
  if (!found.ok()) return ToGrpc(found.status());
  CriContainer c = Refresh(*found);
  if (c.state != CriContainer::kRunning) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("ReopenContainerLog: container ", c.id,
                                     " is not running"));
  }
  absl::StatusOr<ShimRef> shim = options_.shims->Get(c.pod_id);
  if (!shim.ok()) return ToGrpc(shim.status());
  return ToGrpc((*shim)->ReopenLog(c.id));
}

grpc::Status RuntimeService::UpdateContainerResources(
    grpc::ServerContext*,
    const runtime::v1::UpdateContainerResourcesRequest* request,
    runtime::v1::UpdateContainerResourcesResponse*) {
  absl::StatusOr<CriContainer> found =
      options_.containers->Get(request->container_id());
  if (!found.ok()) return ToGrpc(found.status());
  CriContainer c = Refresh(*found);
  if (c.state == CriContainer::kExited) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("UpdateContainerResources: container ",
                                     c.id, " has exited"));
  }
  absl::StatusOr<ShimRef> shim = options_.shims->Get(c.pod_id);
  if (!shim.ok()) return ToGrpc(shim.status());
  if (absl::Status s = (*shim)->Update(c.id, ResourcesJson(request->linux()));
      !s.ok()) {
    return ToGrpc(s);
  }
  // Status reports what was asked for last.
  return ToGrpc(options_.containers->Mutate(c.id, [&](CriContainer& x) {
    runtime::v1::ContainerConfig config;
    config.ParseFromString(x.config);
    *config.mutable_linux()->mutable_resources() = request->linux();
    x.config = config.SerializeAsString();
  }));
}

}  // namespace cradle
