// The pause process of pods that share one PID namespace among their
// containers. Other pods have none: their namespaces are pinned files.
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "cri/runtime/container_spec.h"
#include "cri/runtime/pod_userns.h"
#include "cri/runtime/runtime_service.h"
#include "glog/logging.h"
#include "lite/files.h"
#include "runc_driver/spec/spec.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

std::string InfraBundle(const PodRecord& r) { return r.pod_dir + "/infra"; }

}  // namespace

absl::Status RuntimeService::StartInfra(
    PodRecord& r, const runtime::v1::PodSandboxConfig& config) {
  const runtime::v1::NamespaceOption& ns =
      config.linux().security_context().namespace_options();
  if (ns.pid() != runtime::v1::POD) return absl::OkStatus();
  std::string bundle = InfraBundle(r);
  std::string rootfs = bundle + "/rootfs";
  std::error_code ec;
  fs::create_directories(rootfs, ec);
  // The pod may run pause as a non-root user: it must reach its own "/".
  fs::permissions(rootfs, fs::perms(0755), ec);
  fs::copy_file(options_.pause_binary, rootfs + "/pause",
                fs::copy_options::overwrite_existing, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the pause binary ", options_.pause_binary, ": ", ec.message()));
  }
  spec::ContainerSpecInput in;
  in.args = {"/pause"};
  in.rootfs = rootfs;
  in.hostname = config.hostname();
  in.security.readonly_rootfs = true;
  in.security.no_new_privs = true;
  in.security.drop_capabilities = {"ALL"};
  if (!r.netns_path.empty()) in.namespaces.network = r.netns_path;
  if (!r.ipcns_path.empty()) in.namespaces.ipc = r.ipcns_path;
  if (!r.utsns_path.empty()) in.namespaces.uts = r.utsns_path;
  in.namespaces.pid = "";
  if (!r.userns_path.empty()) {
    absl::StatusOr<std::optional<UserNamespaceMaps>> maps =
        PodUserNamespace(config);
    if (!maps.ok()) return maps.status();
    if (!maps->has_value()) {
      return absl::InternalError("the pod's user namespace has no maps");
    }
    in.namespaces.user = r.userns_path;
    in.namespaces.uid_mappings = SpecMappings((*maps)->uids);
    in.namespaces.gid_mappings = SpecMappings((*maps)->gids);
    // runc reaches the rootfs through the bundle and makes its mount
    // points (/proc, /dev, /sys) in it as the pod's root; the rootfs is
    // cradle's own, not an image's.
    if (absl::Status s = LetPodRootThrough(bundle, **maps); !s.ok()) return s;
    std::optional<std::pair<uint32_t, uint32_t>> root = PodRootOnHost(**maps);
    if (root && lchown(rootfs.c_str(), root->first, root->second) != 0) {
      return absl::InternalError(absl::StrCat(
          "give the pause rootfs to the pod's root: ", strerror(errno)));
    }
  }
  in.cgroups_path = options_.systemd_cgroup
                        ? absl::StrCat("system.slice:cradle:", r.id)
                        : CgroupfsPath(config.linux().cgroup_parent(), r.id);
  absl::StatusOr<std::string> spec = spec::BuildSpec(in);
  if (!spec.ok()) return spec.status();
  if (int err = lite::WriteFileAtomic(bundle + "/config.json", *spec, 0600);
      err != 0) {
    return absl::InternalError(
        absl::StrCat("write the infra config: ", strerror(err)));
  }

  absl::StatusOr<ShimRef> shim = options_.shims->Get(r.id);
  if (!shim.ok()) return shim.status();
  shim::CreateRequest create;
  create.id = r.id;  // runc ids: a pod id never clashes with a container's
  create.bundle = bundle;
  absl::StatusOr<int> pid = (*shim)->Create(create);
  if (!pid.ok()) return pid.status();
  if (absl::StatusOr<shim::ContainerState> s = (*shim)->Start(r.id); !s.ok()) {
    return s.status();
  }
  r.infra_pid = *pid;
  r.pidns_path = absl::StrCat("/proc/", *pid, "/ns/pid");
  LOG(INFO) << "pod=" << r.id << " shares a pid namespace held by pause pid "
            << *pid;
  return absl::OkStatus();
}

// Both run whatever the record says of infra_pid: a daemon killed between
// starting the pause process and recording it leaves only the shim knowing.
absl::Status RuntimeService::StopInfra(const PodRecord& r) {
  absl::StatusOr<ShimRef> shim = options_.shims->Get(r.id);
  if (!shim.ok()) {
    if (options_.shims->Gone(r.id)) {
      ReapDeadShim(r.id);
      return absl::OkStatus();
    }
    return KillDirect(r.id);  // alive, not answering
  }
  absl::Status killed = (*shim)->Kill(r.id, SIGKILL, /*all=*/true);
  if (absl::IsNotFound(killed)) return absl::OkStatus();
  if (ShimUnreachable(killed)) {
    return KillDirect(r.id);  // a stopped shim
  }
  if (!killed.ok()) return killed;
  return (*shim)->Wait(r.id, absl::Seconds(30)).status();
}

absl::Status RuntimeService::RemoveInfra(const PodRecord& r) {
  absl::StatusOr<ShimRef> shim = options_.shims->Get(r.id);
  if (!shim.ok()) {
    if (options_.shims->Gone(r.id)) return absl::OkStatus();  // reaped
    return absl::UnavailableError(
        absl::StrCat("the pod's shim does not answer; try again: ",
                     shim.status().message()));
  }
  absl::Status deleted = (*shim)->Delete(r.id).status();
  // A cached client of a shim that died since: nothing left to delete.
  if (deleted.ok() || absl::IsNotFound(deleted) || options_.shims->Gone(r.id))
    return absl::OkStatus();
  return deleted;
}

}  // namespace cradle
