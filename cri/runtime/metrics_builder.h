// The CRI's pod metrics (ListMetricDescriptors, ListPodSandboxMetrics):
// cAdvisor's container_* series, which the kubelet re-exports unchanged on
// /metrics/cadvisor when it takes pod and container stats from the CRI.
//
// The kubelet reads the descriptors once and then turns each Metric into a
// Prometheus sample of that name, so a Metric must name a descriptor and
// carry one label value per label key, in the keys' order (else the kubelet
// drops it). Every series has the keys
//   pod, namespace, container, id, image
// (as containerd's CRI plugin has them; the pod's own series have an empty
// container and image and the pod sandbox id as id); network series add
// "interface", filesystem series "device", memory failures "failure_type"
// and "scope". Values are integers: the *_seconds_total series count whole
// seconds, as containerd and CRI-O report them.
#ifndef CRADLE_CRI_RUNTIME_METRICS_BUILDER_H_
#define CRADLE_CRI_RUNTIME_METRICS_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cgroups/metrics.h"
#include "cri/api/runtime/v1/cri.h"

namespace cradle {

// Every metric this runtime reports, in a fixed order.
std::vector<runtime::v1::MetricDescriptor> MetricDescriptors();

// One interface's counters, from /proc/net/dev.
struct InterfaceCounters {
  std::string name;
  uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
  uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
};

// The interfaces of a /proc/net/dev text, without the loopback.
std::vector<InterfaceCounters> ParseNetDev(absl::string_view text);

// The interfaces of the network namespace at `netns_path`, as
// /proc/thread-self/net/dev shows them from inside it.
absl::StatusOr<std::vector<InterfaceCounters>> NamespaceInterfaces(
    const std::string& netns_path);

// A container's writable layer on its filesystem.
struct FilesystemUsage {
  std::string device;  // the snapshotter's directory
  uint64_t used_bytes = 0;
  uint64_t capacity_bytes = 0;  // of the filesystem holding it
  uint64_t inodes_total = 0;
  uint64_t inodes_free = 0;
};

// PSI as ContainerStats and PodSandboxStats carry it: Total in nanoseconds
// (the kernel counts microseconds).
void FillPsi(const Psi& psi, runtime::v1::PsiStats* out);

// The pressure that is known (cgroup v2) into the stats' cpu, memory and
// io; nothing for what is not.
void FillPressure(const CgroupPressure& p, int64_t now,
                  runtime::v1::CpuUsage* cpu, runtime::v1::MemoryUsage* memory,
                  runtime::v1::IoUsage* io);

// Appends metrics for one pod or container: the base label values
// (pod, namespace, container, id, image) and a timestamp (unix nanos) are
// fixed at construction. Not thread-safe; cheap.
class MetricsBuilder {
 public:
  MetricsBuilder(std::vector<std::string> base_labels, int64_t now,
                 google::protobuf::RepeatedPtrField<runtime::v1::Metric>* out);

  // CPU, memory, processes, limits and, when present, pressure.
  void AddCgroup(const CgroupMetrics& m);
  void AddNetwork(const std::vector<InterfaceCounters>& interfaces);
  void AddFilesystem(const FilesystemUsage& fs);
  // container_start_time_seconds and container_last_seen.
  void AddTimes(int64_t started_at_nanos);

 private:
  void Add(absl::string_view name, uint64_t value,
           std::vector<std::string> extra_labels = {});

  std::vector<std::string> base_;
  int64_t now_;
  google::protobuf::RepeatedPtrField<runtime::v1::Metric>* out_;
};

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_METRICS_BUILDER_H_
