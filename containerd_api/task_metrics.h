// Tasks.Metrics' payload: a task's cgroup usage as containerd reports it on
// a cgroup v1 host, a containerd.types.Metric whose data is an Any of type
// io.containerd.cgroups.v1.Metrics (github.com/containerd/cgroups' stats/v1
// message), which ctr decodes by that type name. The numbers come from the
// reader the CRI's stats use (cgroups/metrics.h), so both APIs agree.
#ifndef CRADLE_CONTAINERD_API_TASK_METRICS_H_
#define CRADLE_CONTAINERD_API_TASK_METRICS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cgroups/metrics.h"
#include "cgroups/stats.h"
#include "containerd_api/proto/cgroups/stats/v1/metrics.pb.h"
#include "containerd_api/proto/types/metrics.pb.h"

namespace cradle::containerd_api {

// The Any's type_url: containerd's typeurl names gogo messages by their bare
// full name, with no "type.googleapis.com/" prefix, and ctr looks it up so.
inline constexpr char kCgroupsV1MetricsType[] =
    "io.containerd.cgroups.v1.Metrics";

// The host's cgroup hierarchies, as the CRI's reader sees them; decided once.
const CgroupReader& HostCgroups();

// Which v1 controllers hold the cgroup: a part of the message whose
// controller is not mounted (or has no such cgroup) is left out, as
// containerd's cgroups library leaves it, rather than reported as zeros.
struct V1Controllers {
  bool cpu = false;      // cpu: CFS throttling
  bool cpuacct = false;  // cpuacct: usage
  bool pids = false;
  bool memory = false;
};

// The stats/v1 message of what the reader found.
::io::containerd::cgroups::v1::Metrics ToV1Metrics(const CgroupMetrics& m,
                                                   const V1Controllers& have);

// The metric of task `id`, whose cgroup is `cgroups_path` (its spec's
// linux.cgroupsPath, either driver's form) below `cgroups`' hierarchies,
// stamped `now`. NotFound when the cgroup does not exist (a task not created
// yet or deleted meanwhile; containerd leaves such a task out of the reply);
// Unimplemented on a unified (v2) host, where containerd would send
// io.containerd.cgroups.v2.Metrics, which cradle does not render.
absl::StatusOr<::containerd::types::Metric> TaskMetric(
    const std::string& id, absl::string_view cgroups_path,
    const CgroupReader& cgroups, absl::Time now);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_TASK_METRICS_H_
