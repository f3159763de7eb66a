#include <sys/mount.h>

#include <filesystem>

#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"
#include "glog/logging.h"
#include "namespaces/pinned.h"

namespace cradle {

absl::Status RuntimeService::StopSandbox(PodRecord& r) {
  // Containers first (the kubelet has stopped them gracefully already;
  // whatever still runs is killed), then the infra process.
  for (const CriContainer& c : options_.containers->List()) {
    if (c.pod_id != r.id) continue;
    if (absl::Status s = Stop(c, absl::ZeroDuration()); !s.ok()) return s;
  }
  if (absl::Status s = StopInfra(r); !s.ok()) return s;
  // Detach the network first, then drop the namespace: CNI DEL needs it.
  if (!r.netns_path.empty() && IsPinnedNamespace(r.netns_path)) {
    if (absl::Status s = options_.network->Teardown(
            {r.id, r.netns_path, r.name, r.pod_namespace, r.uid});
        !s.ok()) {
      return s;
    }
    if (absl::Status s = RemovePinnedNamespace(r.netns_path); !s.ok()) return s;
  }
  if (r.ready) {
    r.ready = false;
    if (absl::Status s = options_.sandboxes->Update(r); !s.ok()) return s;
    LOG(INFO) << "pod=" << r.id << " stopped";
  }
  return absl::OkStatus();
}

grpc::Status RuntimeService::StopPodSandbox(
    grpc::ServerContext*, const runtime::v1::StopPodSandboxRequest* request,
    runtime::v1::StopPodSandboxResponse*) {
  absl::StatusOr<PodRecord> r =
      options_.sandboxes->Get(request->pod_sandbox_id());
  if (!r.ok()) return ToGrpc(r.status());
  return ToGrpc(StopSandbox(*r));
}

grpc::Status RuntimeService::RemovePodSandbox(
    grpc::ServerContext*, const runtime::v1::RemovePodSandboxRequest* request,
    runtime::v1::RemovePodSandboxResponse*) {
  absl::StatusOr<PodRecord> r =
      options_.sandboxes->Get(request->pod_sandbox_id());
  // Idempotent: a sandbox that is gone is removed.
  if (r.status().code() == absl::StatusCode::kNotFound) return grpc::Status::OK;
  if (!r.ok()) return ToGrpc(r.status());
  for (const CriContainer& c : options_.containers->List()) {
    if (c.pod_id != r->id) continue;
    if (absl::Status s = Remove(c); !s.ok()) return ToGrpc(s);
  }
  if (absl::Status s = StopSandbox(*r); !s.ok()) return ToGrpc(s);
  if (absl::Status s = RemoveInfra(*r); !s.ok()) return ToGrpc(s);
  if (absl::Status s = options_.shims->Stop(r->id, ShimCgroup(*r)); !s.ok())
    return ToGrpc(s);
  if (!r->shm_path.empty()) umount2(r->shm_path.c_str(), MNT_DETACH);
  for (const std::string& ns : {r->ipcns_path, r->utsns_path}) {
    if (!ns.empty()) {
      if (absl::Status s = RemovePinnedNamespace(ns); !s.ok()) return ToGrpc(s);
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(r->pod_dir, ec);
  if (ec) {
    return ToGrpc(
        absl::InternalError("remove " + r->pod_dir + ": " + ec.message()));
  }
  if (absl::Status s = options_.sandboxes->Remove(r->id); !s.ok())
    return ToGrpc(s);
  LOG(INFO) << "pod=" << r->id << " removed";
  return grpc::Status::OK;
}

}  // namespace cradle
