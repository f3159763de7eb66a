// Writes resource limits onto an existing cgroup: the pod-level limits of
// UpdatePodSandboxResources. On v1 each limit goes to its controller's
// hierarchy (cpu, memory, cpuset, hugetlb); on a v2 unified mount to the
// equivalent v2 files. Only files inside the named cgroup are written, and
// a cgroup that is missing from a controller is an error, not created.
#ifndef CRADLE_CGROUPS_RESOURCES_H_
#define CRADLE_CGROUPS_RESOURCES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle {

// Each field unset leaves the cgroup's current value. Units are v1's
// (shares, microseconds, bytes); v2 files get them converted.
struct CgroupLimits {
  std::optional<uint64_t> cpu_shares;      // 2..262144
  std::optional<uint64_t> cpu_period_us;   // 1000..1000000
  std::optional<int64_t> cpu_quota_us;     // -1: unlimited, else >= 1000
  std::optional<int64_t> memory_limit;     // bytes; -1: unlimited
  std::optional<std::string> cpuset_cpus;  // "0-3,6"
  std::optional<std::string> cpuset_mems;
  std::map<std::string, uint64_t> hugepage_limits;  // "2MB" -> bytes
};

// InvalidArgument naming the field when a value is out of range or not of
// the kernel's syntax.
absl::Status ValidateCgroupLimits(const CgroupLimits& limits);

// The cgroup a pod's cgroup_parent names, as a path below the hierarchy's
// root: "/kubepods/pod1" as is; with `systemd`, a slice name expanded the
// way systemd nests slices ("kubepods-pod1.slice" is
// "/kubepods.slice/kubepods-pod1.slice"). InvalidArgument for the root
// cgroup, ".." components or a slice name that is not one.
absl::StatusOr<std::string> PodCgroupDirectory(absl::string_view parent,
                                               bool systemd);

// Writes `limits` (validated first) onto the cgroup `dir` (as
// PodCgroupDirectory returns) below `root`. FailedPrecondition when the
// cgroup does not exist in a controller a limit needs; the kernel's
// refusal (e.g. a memory limit below current usage: EBUSY) as
// FailedPrecondition or InvalidArgument naming the file. Stops at the
// first error: earlier writes stay.
absl::Status WriteCgroupLimits(const std::string& root, bool unified,
                               const std::string& dir,
                               const CgroupLimits& limits);

// shares (2..262144) to cpu.weight (1..10000), as runc maps them.
uint64_t SharesToWeight(uint64_t shares);

}  // namespace cradle

#endif  // CRADLE_CGROUPS_RESOURCES_H_
