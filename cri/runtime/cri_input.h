// Checks of CRI input that would otherwise reach a path, a cgroup, CNI_ARGS
// or a file in the pod. The caller (the kubelet) is trusted, but a mistake
// in what it sends must fail the call, not write outside its place. Each
// check runs at the RPC's entry, before anything is created, and answers
// InvalidArgument naming the field and what a valid value looks like.
#ifndef CRADLE_CRI_RUNTIME_CRI_INPUT_H_
#define CRADLE_CRI_RUNTIME_CRI_INPUT_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cri/api/runtime/v1/cri.h"

namespace cradle {

// A Localhost seccomp profile larger than this is refused.
inline constexpr size_t kMaxSeccompProfileBytes = 1 << 20;

// RunPodSandbox: metadata (it reaches CNI_ARGS), hostname and DNS config
// (they become lines of /etc/hosts and resolv.conf), cgroup_parent.
absl::Status ValidatePodSandboxConfig(
    const runtime::v1::PodSandboxConfig& config);

// CreateContainer: log_path (relative to the pod's log_directory) and a
// Localhost seccomp profile (read here, so a bad one fails before any
// snapshot or bundle exists).
absl::Status ValidateContainerConfig(
    const runtime::v1::ContainerConfig& config);

// The Localhost seccomp profile the security context names; empty when it
// names none.
std::string LocalhostSeccompRef(
    const runtime::v1::LinuxContainerSecurityContext& sc);

// Reads a Localhost seccomp profile: `path` must be absolute and a regular
// file of at most kMaxSeccompProfileBytes. Never blocks on a FIFO and never
// reads more than the cap from a device.
absl::StatusOr<std::string> ReadSeccompProfile(const std::string& path);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_CRI_INPUT_H_
