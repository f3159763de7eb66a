// ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats:
// cgroup usage (v1 or v2, as the host has), the writable layer's size, and
// a pod's network counters from inside its network namespace.
#include "absl/strings/str_cat.h"
#include "cgroups/metrics.h"
#include "cri/runtime/filters.h"
#include "cri/runtime/metrics_builder.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"
#include "runc_driver/runc.h"

namespace cradle {
namespace {

namespace v1 = runtime::v1;

int64_t NowNanos() { return absl::ToUnixNanos(absl::Now()); }

void FillMemory(const CgroupStats& s, int64_t now, v1::MemoryUsage* m) {
  m->set_timestamp(now);
  m->mutable_working_set_bytes()->set_value(s.working_set);
  m->mutable_usage_bytes()->set_value(s.memory_usage);
  m->mutable_rss_bytes()->set_value(s.rss);
  m->mutable_page_faults()->set_value(s.page_faults);
  m->mutable_major_page_faults()->set_value(s.major_page_faults);
  if (s.memory_limit.has_value()) {
    m->mutable_available_bytes()->set_value(
        *s.memory_limit > s.working_set ? *s.memory_limit - s.working_set : 0);
  }
}

// Per-interface counters of the pod's network namespace, as
// /proc/thread-self/net/dev shows them from inside it.
void FillNetwork(const std::string& netns_path, int64_t now,
                 v1::NetworkUsage* n) {
  n->set_timestamp(now);
  absl::StatusOr<std::vector<InterfaceCounters>> interfaces =
      NamespaceInterfaces(netns_path);
  if (!interfaces.ok()) return;
  for (const InterfaceCounters& i : *interfaces) {
    v1::NetworkInterfaceUsage* u = n->add_interfaces();
    u->set_name(i.name);
    u->mutable_rx_bytes()->set_value(i.rx_bytes);
    u->mutable_rx_errors()->set_value(i.rx_errors);
    u->mutable_tx_bytes()->set_value(i.tx_bytes);
    u->mutable_tx_errors()->set_value(i.tx_errors);
    if (i.name == "eth0") *n->mutable_default_interface() = *u;
  }
}

}  // namespace

void RuntimeService::FillCpu(const std::string& key, uint64_t usage_ns,
                             int64_t now, v1::CpuUsage* cpu) {
  cpu->set_timestamp(now);
  cpu->mutable_usage_core_nano_seconds()->set_value(usage_ns);
  // Cores in use: CPU time over wall time since this one's last sample.
  uint64_t nano_cores = 0;
  absl::MutexLock lock(&cpu_samples_mu_);
  auto it = cpu_samples_.find(key);
  if (it != cpu_samples_.end() && now > it->second.at &&
      usage_ns >= it->second.usage_ns) {
    nano_cores = static_cast<uint64_t>(
        static_cast<double>(usage_ns - it->second.usage_ns) * 1e9 /
        static_cast<double>(now - it->second.at));
  }
  cpu->mutable_usage_nano_cores()->set_value(nano_cores);
  cpu_samples_[key] = {usage_ns, now};
  // Forget what nobody asked about for a while (removed containers).
  if (cpu_samples_.size() > 4096) {
    for (auto i = cpu_samples_.begin(); i != cpu_samples_.end();) {
      i = now - i->second.at > absl::ToInt64Nanoseconds(absl::Minutes(10))
              ? cpu_samples_.erase(i)
              : std::next(i);
    }
  }
}

v1::ContainerStats RuntimeService::StatsOf(const CriContainer& c,
                                           std::optional<CgroupStats>* usage) {
  v1::ContainerStats stats;
  v1::ContainerAttributes* a = stats.mutable_attributes();
  a->set_id(c.id);
  a->mutable_metadata()->set_name(c.name);
  a->mutable_metadata()->set_attempt(c.attempt);
  a->mutable_labels()->insert(c.labels.begin(), c.labels.end());
  a->mutable_annotations()->insert(c.annotations.begin(), c.annotations.end());
  int64_t now = NowNanos();
  absl::StatusOr<CgroupStats> cgroup = absl::NotFoundError("not running");
  // Read once, so that usage and pressure are of one cgroup even when the
  // bundle is removed meanwhile.
  std::string cgroup_path;
  if (c.state == CriContainer::kRunning) {
    cgroup_path = BundleCgroupsPath(c.bundle);
    // NotFound for "" (the bundle is gone): never the root cgroup's usage.
    cgroup = cgroups_.Read(cgroup_path);
  }
  if (cgroup.ok()) {
    FillCpu(c.id, cgroup->cpu_usage_ns, now, stats.mutable_cpu());
    FillMemory(*cgroup, now, stats.mutable_memory());
    // Pressure only where the cgroup is on v2 (metrics_builder.h).
    FillPressure(
        ReadCgroupPressure(cgroups_.root(), cgroups_.unified(), cgroup_path),
        now, stats.mutable_cpu(), stats.mutable_memory(), stats.mutable_io());
    if (usage != nullptr) *usage = *cgroup;
  }
  absl::StatusOr<SnapshotUsage> layer =
      options_.snapshotter->Usage(c.snapshot_key);
  v1::FilesystemUsage* fs = stats.mutable_writable_layer();
  fs->set_timestamp(now);
  fs->mutable_fs_id()->set_mountpoint(absl::StrCat(
      options_.root_dir, "/snapshots/", options_.snapshotter_name));
  fs->mutable_used_bytes()->set_value(layer.ok() ? layer->bytes : 0);
  fs->mutable_inodes_used()->set_value(layer.ok() ? layer->inodes : 0);
  return stats;
}

grpc::Status RuntimeService::ContainerStats(
    grpc::ServerContext*, const v1::ContainerStatsRequest* request,
    v1::ContainerStatsResponse* response) {
  absl::StatusOr<CriContainer> c =
      options_.containers->Get(request->container_id());
  if (!c.ok()) return ToGrpc(c.status());
  *response->mutable_stats() = StatsOf(Refresh(*c), nullptr);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListContainerStats(
    grpc::ServerContext*, const v1::ListContainerStatsRequest* request,
    v1::ListContainerStatsResponse* response) {
  const v1::ContainerStatsFilter& f = request->filter();
  for (const CriContainer& c : options_.containers->List()) {
    if (!IdMatches(c.id, f.id()) || !IdMatches(c.pod_id, f.pod_sandbox_id()) ||
        !LabelsMatch(c.labels, f.label_selector())) {
      continue;
    }
    *response->add_stats() = StatsOf(Refresh(c), nullptr);
  }
  return grpc::Status::OK;
}

v1::PodSandboxStats RuntimeService::PodStatsOf(const PodRecord& pod) {
  v1::PodSandboxStats stats;
  v1::PodSandboxAttributes* a = stats.mutable_attributes();
  a->set_id(pod.id);
  a->mutable_metadata()->set_name(pod.name);
  a->mutable_metadata()->set_namespace_(pod.pod_namespace);
  a->mutable_metadata()->set_uid(pod.uid);
  a->mutable_metadata()->set_attempt(pod.attempt);
  a->mutable_labels()->insert(pod.labels.begin(), pod.labels.end());
  a->mutable_annotations()->insert(pod.annotations.begin(),
                                   pod.annotations.end());
  v1::LinuxPodSandboxStats* linux = stats.mutable_linux();
  int64_t now = NowNanos();

  // The containers, summed: the pod's own usage when it has no cgroup.
  CgroupStats sum;
  int running = 0;
  for (const CriContainer& found : options_.containers->List()) {
    if (found.pod_id != pod.id) continue;
    CriContainer c = Refresh(found);
    std::optional<CgroupStats> usage;
    *linux->add_containers() = StatsOf(c, &usage);
    if (!usage.has_value()) continue;
    ++running;
    sum.cpu_usage_ns += usage->cpu_usage_ns;
    sum.memory_usage += usage->memory_usage;
    sum.working_set += usage->working_set;
    sum.rss += usage->rss;
    sum.page_faults += usage->page_faults;
    sum.major_page_faults += usage->major_page_faults;
    sum.pids += usage->pids;
  }
  v1::PodSandboxConfig config;
  config.ParseFromString(pod.config);
  absl::StatusOr<CgroupStats> parent =
      config.linux().cgroup_parent().empty()
          ? absl::NotFoundError("no pod cgroup")
          : cgroups_.Read(config.linux().cgroup_parent());
  if (parent.ok() || running > 0) {
    const CgroupStats& s = parent.ok() ? *parent : sum;
    FillCpu("pod:" + pod.id, s.cpu_usage_ns, now, linux->mutable_cpu());
    FillMemory(s, now, linux->mutable_memory());
    linux->mutable_process()->set_timestamp(now);
    linux->mutable_process()->mutable_process_count()->set_value(s.pids);
  }
  if (!pod.netns_path.empty()) {
    FillNetwork(pod.netns_path, now, linux->mutable_network());
  }
  return stats;
}

grpc::Status RuntimeService::PodSandboxStats(
    grpc::ServerContext*, const v1::PodSandboxStatsRequest* request,
    v1::PodSandboxStatsResponse* response) {
  absl::StatusOr<PodRecord> pod =
      options_.sandboxes->Get(request->pod_sandbox_id());
  if (!pod.ok()) return ToGrpc(pod.status());
  *response->mutable_stats() = PodStatsOf(*pod);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandboxStats(
    grpc::ServerContext*, const v1::ListPodSandboxStatsRequest* request,
    v1::ListPodSandboxStatsResponse* response) {
  const v1::PodSandboxStatsFilter& f = request->filter();
  for (const PodRecord& pod : options_.sandboxes->List()) {
    if (!IdMatches(pod.id, f.id()) ||
        !LabelsMatch(pod.labels, f.label_selector())) {
      continue;
    }
    *response->add_stats() = PodStatsOf(pod);
  }
  return grpc::Status::OK;
}

}  // namespace cradle
