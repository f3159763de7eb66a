// StopPodSandbox and RemovePodSandbox. Every step is idempotent and safe
// from any recorded state, so a call that failed or a daemon that died
// half-way is finished by the next call.
#include <sys/mount.h>

#include <filesystem>

#include "cgroups/membership.h"
#include "cri/runtime/container_spec.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"
#include "failpoint/failpoint.h"
#include "glog/logging.h"
#include "mount/mount.h"
#include "namespaces/pinned.h"

namespace cradle {

absl::Status RuntimeService::StopSandbox(PodRecord& r) {
  // Containers first (the kubelet has stopped them gracefully already;
  // whatever still runs is killed), then the infra process.
  for (const CriContainer& c : options_.containers->ListInPod(r.id)) {
    if (absl::Status s = Stop(c, absl::ZeroDuration()); !s.ok()) return s;
  }
  if (absl::Status s = StopInfra(r); !s.ok()) return s;
  failpoint::Hit("StopPodSandbox.containers");
  // Detach the network, then drop the namespace. After a reboot the
  // namespace is gone but the IPAM reservation is not: DEL still runs,
  // from the cached ADD, with no namespace to enter.
  if (!r.netns_path.empty()) {
    bool pinned = IsPinnedNamespace(r.netns_path);
    if (absl::Status s = options_.network->Teardown(
            {r.id, pinned ? r.netns_path : "", r.name, r.pod_namespace, r.uid});
        !s.ok()) {
      return s;
    }
    failpoint::Hit("StopPodSandbox.network");
    if (absl::Status s = RemovePinnedNamespace(r.netns_path); !s.ok()) return s;
  }
  if (r.state != PodState::kNotReady) {
    if (absl::Status s = SetPodNotReady(r.id, &r); !s.ok()) return s;
    LOG(INFO) << "pod=" << r.id << " stopped";
  }
  return absl::OkStatus();
}

absl::Status RuntimeService::RemoveSandboxFiles(const PodRecord& r) {
  if (absl::Status s = RemoveInfra(r); !s.ok()) return s;
  // The monitor lets go first: the shim leaving now is no death.
  monitor_->Unwatch(r.id);
  if (absl::Status s = options_.shims->Stop(r.id, ShimCgroup(r)); !s.ok())
    return s;
  if (!options_.systemd_cgroup) {
    // Where shims of cradle 0.1 lived, inside the pod's cgroup parent.
    runtime::v1::PodSandboxConfig config;
    config.ParseFromString(r.config);
    (void)RemoveCgroup(CgroupfsPath(config.linux().cgroup_parent(),
                                    "cradle-shim-" + r.id.substr(0, 12)));
  }
  failpoint::Hit("RemovePodSandbox.shim");
  if (!r.shm_path.empty()) (void)UnmountAll(r.shm_path);
  for (const std::string& ns :
       {r.ipcns_path, r.utsns_path, r.netns_path, r.userns_path}) {
    if (ns.empty()) continue;
    if (absl::Status s = RemovePinnedNamespace(ns); !s.ok()) return s;
  }
  // Whatever is still mounted below (a rootfs whose container record went
  // first) would make the removal fail with EBUSY.
  if (absl::Status s = UnmountBelow(r.pod_dir); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::remove_all(r.pod_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("remove ", r.pod_dir, ": ", ec.message()));
  }
  failpoint::Hit("RemovePodSandbox.files");
  return absl::OkStatus();
}

grpc::Status RuntimeService::StopPodSandbox(
    grpc::ServerContext*, const runtime::v1::StopPodSandboxRequest* request,
    runtime::v1::StopPodSandboxResponse*) {
  absl::StatusOr<PodRecord> r =
      options_.sandboxes->Get(request->pod_sandbox_id());
  if (!r.ok()) return ToGrpc(r.status());
  absl::Status s = StopSandbox(*r);
  if (!s.ok()) {
    return ToGrpc(absl::Status(
        s.code(), absl::StrCat("StopPodSandbox ", r->id, ": ", s.message())));
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::RemovePodSandbox(
    grpc::ServerContext*, const runtime::v1::RemovePodSandboxRequest* request,
    runtime::v1::RemovePodSandboxResponse*) {
  absl::StatusOr<PodRecord> r =
      options_.sandboxes->Get(request->pod_sandbox_id());
  // Idempotent: a sandbox that is gone is removed.
  if (r.status().code() == absl::StatusCode::kNotFound) return grpc::Status::OK;
  if (!r.ok()) return ToGrpc(r.status());
  auto failed = [&](const absl::Status& s) {
    return ToGrpc(absl::Status(
        s.code(), absl::StrCat("RemovePodSandbox ", r->id, ": ", s.message())));
  };
  for (const CriContainer& c : options_.containers->ListInPod(r->id)) {
    if (absl::Status s = Remove(c); !s.ok()) return failed(s);
  }
  failpoint::Hit("RemovePodSandbox.containers");
  if (absl::Status s = StopSandbox(*r); !s.ok()) return failed(s);
  if (absl::Status s = RemoveSandboxFiles(*r); !s.ok()) return failed(s);
  if (absl::Status s = RemovePodRecord(*r); !s.ok()) return failed(s);
  LOG(INFO) << "pod=" << r->id << " removed";
  return grpc::Status::OK;
}

}  // namespace cradle
