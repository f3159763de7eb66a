// From the CRI's view of a container (its config, its pod, its image) to
// the runtime-spec builder's plain inputs.
#ifndef CRADLE_CRI_RUNTIME_CONTAINER_SPEC_H_
#define CRADLE_CRI_RUNTIME_CONTAINER_SPEC_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cri/api/runtime/v1/cri.h"
#include "cri/store/sandbox_store.h"
#include "oci/image.h"
#include "runc_driver/spec/spec.h"

namespace cradle {

struct ContainerSpecContext {
  std::string container_id;
  std::string rootfs;       // mounted
  std::string volumes_dir;  // per-container dirs for image VOLUMEs
  // For each mount of an image (by its index in config.mounts()): the host
  // directory of its read-only view, sub path applied.
  std::map<int, std::string> image_volume_sources;
  std::string cgroup_parent;  // the pod's, or a default
  bool systemd_cgroup = false;
  // The lowest oom_score_adj the daemon may set (without CAP_SYS_RESOURCE
  // it cannot go below its own).
  int min_oom_score_adj = -1000;
  // The pid namespace of the pod's infra process, when the pod shares one.
  std::string pod_pidns_path;
  // What privileged and "ALL" grant: the capabilities the daemon holds.
  std::vector<std::string> daemon_capabilities;
  // CDI spec dirs, lowest priority first (config runtime.cdi_spec_dirs).
  std::vector<std::string> cdi_spec_dirs;
};

// InvalidArgument names the field a person must fix; NotFound names a user
// or group the image does not have.
absl::StatusOr<spec::ContainerSpecInput> ContainerSpecFor(
    const runtime::v1::ContainerConfig& config, const PodRecord& pod,
    const runtime::v1::PodSandboxConfig& pod_config,
    const oci::ImageConfig& image, const ContainerSpecContext& context);

// The OCI LinuxResources JSON for UpdateContainerResources.
std::string ResourcesJson(const runtime::v1::LinuxContainerResources& r);

// A container path in one spelling: absolute, no empty, "." or ".."
// components, no trailing slash ("/data/", "//data", "data/." are "/data").
std::string CleanContainerPath(absl::string_view path);

// The cgroupfs path of `name` (a container, the pause process, the shim)
// under the pod's cgroup parent, or under "/cradle" when it has none.
std::string CgroupfsPath(const std::string& cgroup_parent,
                         const std::string& name);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_CONTAINER_SPEC_H_
