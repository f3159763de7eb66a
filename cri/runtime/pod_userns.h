// The user namespace of a pod (NamespaceOption.userns_options), as the
// kubelet asks for it: mode POD with uid and gid mappings, shared by all of
// the pod's containers; or the host's.
#ifndef CRADLE_CRI_RUNTIME_POD_USERNS_H_
#define CRADLE_CRI_RUNTIME_POD_USERNS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/api/runtime/v1/cri.h"
#include "namespaces/user.h"
#include "runc_driver/spec/spec.h"

namespace cradle {

// The pod's maps; nullopt when it runs in the host's user namespace (no
// userns_options, or mode NODE). InvalidArgument, naming the field, for
// another mode, bad or missing maps, or a pod that shares a host
// namespace as well (root of the pod would act in the host's).
absl::StatusOr<std::optional<UserNamespaceMaps>> PodUserNamespace(
    const runtime::v1::PodSandboxConfig& config);

// InvalidArgument when a container asks for another user namespace than
// its pod has: the pod's is the only one its containers can join.
absl::Status CheckContainerUserNamespace(
    const runtime::v1::ContainerConfig& config,
    const std::optional<UserNamespaceMaps>& pod);

// Whether a mount asks to be idmapped (Mount.uidMappings and gidMappings,
// which the kubelet sets to the pod's maps). InvalidArgument when they are
// given without a pod user namespace, or differ from the pod's: one
// namespace per pod, so one mapping.
absl::StatusOr<bool> MountIdmapped(const runtime::v1::Mount& mount,
                                   const std::optional<UserNamespaceMaps>& pod);

// The host uid and gid of the pod's root; nullopt when id 0 is not mapped.
std::optional<std::pair<uint32_t, uint32_t>> PodRootOnHost(
    const UserNamespaceMaps& maps);

// Lets the pod's root, and nobody else, through `dir` (root:<its host
// gid>, 0710): runc and crun reach a rootfs by path as that root.
absl::Status LetPodRootThrough(const std::string& dir,
                               const UserNamespaceMaps& maps);

std::vector<spec::IdMapping> SpecMappings(const std::vector<IdRange>& ranges);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_POD_USERNS_H_
