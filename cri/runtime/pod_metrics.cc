// ListMetricDescriptors, ListPodSandboxMetrics, StreamPodSandboxMetrics:
// cAdvisor-named metrics of each ready pod (its cgroup parent's usage and
// its network namespace's interfaces) and of each of its running
// containers (cgroup usage, writable layer). The names and labels are in
// metrics_builder.h.
#include <sys/statvfs.h>

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cgroups/metrics.h"
#include "cgroups/resources.h"
#include "cri/runtime/metrics_builder.h"
#include "cri/runtime/runtime_service.h"
#include "cri/stream/chunked_list.h"
#include "glog/logging.h"
#include "runc_driver/runc.h"

namespace cradle {
namespace {

namespace v1 = runtime::v1;

// What one ListPodSandboxMetrics pass needs of the service, fixed for the
// pass.
struct MetricsContext {
  std::string cgroup_root;  // the service's CgroupReader's
  bool unified = false;
  bool systemd = false;  // the cgroup driver
  Snapshotter* snapshotter = nullptr;
  FilesystemUsage fs_template;  // its filesystem's size and inodes
  int64_t now = 0;
};

std::vector<InterfaceCounters> PodInterfaces(const PodRecord& pod) {
  absl::StatusOr<std::vector<InterfaceCounters>> interfaces =
      NamespaceInterfaces(pod.netns_path);
  if (!interfaces.ok()) {
    VLOG(1) << "pod=" << pod.id
            << " no network counters: " << interfaces.status();
    return {};
  }
  return *std::move(interfaces);
}

v1::PodSandboxMetrics PodMetrics(const MetricsContext& ctx,
                                 const PodRecord& pod,
                                 const std::vector<CriContainer>& containers) {
  v1::PodSandboxMetrics out;
  out.set_pod_sandbox_id(pod.id);
  v1::PodSandboxConfig config;
  config.ParseFromString(pod.config);
  // The pod's own series: no container, no image, the sandbox id as id.
  MetricsBuilder pod_metrics({pod.name, pod.pod_namespace, "", pod.id, ""},
                             ctx.now, out.mutable_metrics());
  const std::string& parent = config.linux().cgroup_parent();
  if (!parent.empty()) {
    // A systemd slice name is a nested directory (resources.h).
    absl::StatusOr<std::string> dir = PodCgroupDirectory(parent, ctx.systemd);
    absl::StatusOr<CgroupMetrics> m =
        dir.ok() ? ReadCgroupMetrics(ctx.cgroup_root, ctx.unified, *dir)
                 : absl::StatusOr<CgroupMetrics>(dir.status());
    if (m.ok()) {
      pod_metrics.AddCgroup(*m);
    } else {
      VLOG(1) << "pod=" << pod.id << " no pod cgroup metrics: " << m.status();
    }
  }
  if (!pod.netns_path.empty()) pod_metrics.AddNetwork(PodInterfaces(pod));

  for (const CriContainer& c : containers) {
    if (c.state != CriContainer::kRunning) continue;
    // NotFound when the container is gone: no cgroup, or no bundle to name
    // it ("", which is never read as the root cgroup).
    absl::StatusOr<CgroupMetrics> m = ReadCgroupMetrics(
        ctx.cgroup_root, ctx.unified, BundleCgroupsPath(c.bundle));
    if (!m.ok()) {
      // Exited or removed since the store last heard; the next pass will
      // know.
      VLOG(1) << "pod=" << pod.id << " container=" << c.id
              << " no cgroup metrics: " << m.status();
      continue;
    }
    v1::ContainerMetrics* cm = out.add_container_metrics();
    cm->set_container_id(c.id);
    MetricsBuilder b({pod.name, pod.pod_namespace, c.name, c.id, c.image_name},
                     ctx.now, cm->mutable_metrics());
    b.AddCgroup(*m);
    FilesystemUsage fs = ctx.fs_template;
    if (ctx.snapshotter != nullptr) {
      absl::StatusOr<SnapshotUsage> layer =
          ctx.snapshotter->Usage(c.snapshot_key);
      if (layer.ok()) fs.used_bytes = static_cast<uint64_t>(layer->bytes);
    }
    b.AddFilesystem(fs);
    b.AddTimes(c.started_at == absl::UnixEpoch()
                   ? 0
                   : absl::ToUnixNanos(c.started_at));
  }
  return out;
}

}  // namespace

grpc::Status RuntimeService::ListMetricDescriptors(
    grpc::ServerContext*, const v1::ListMetricDescriptorsRequest*,
    v1::ListMetricDescriptorsResponse* response) {
  for (v1::MetricDescriptor& d : MetricDescriptors()) {
    *response->add_descriptors() = std::move(d);
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandboxMetrics(
    grpc::ServerContext*, const v1::ListPodSandboxMetricsRequest*,
    v1::ListPodSandboxMetricsResponse* response) {
  MetricsContext ctx;
  ctx.cgroup_root = cgroups_.root();
  ctx.unified = cgroups_.unified();
  ctx.systemd = options_.systemd_cgroup;
  ctx.snapshotter = options_.snapshotter;
  ctx.now = absl::ToUnixNanos(absl::Now());
  ctx.fs_template.device =
      absl::StrCat(options_.root_dir, "/snapshots/", options_.snapshotter_name);
  struct statvfs vfs;
  if (statvfs(ctx.fs_template.device.c_str(), &vfs) == 0) {
    ctx.fs_template.capacity_bytes =
        static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    ctx.fs_template.inodes_total = vfs.f_files;
    ctx.fs_template.inodes_free = vfs.f_ffree;
  }
  std::map<std::string, std::vector<CriContainer>> by_pod;
  for (CriContainer& c : options_.containers->List()) {
    by_pod[c.pod_id].push_back(std::move(c));
  }
  // Like containerd: stopped pods have nothing running to measure.
  for (const PodRecord& pod : options_.sandboxes->List()) {
    if (!pod.ready()) continue;
    *response->add_pod_metrics() = PodMetrics(ctx, pod, by_pod[pod.id]);
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::StreamPodSandboxMetrics(
    grpc::ServerContext* context, const v1::StreamPodSandboxMetricsRequest*,
    grpc::ServerWriter<v1::StreamPodSandboxMetricsResponse>* writer) {
  // What ListPodSandboxMetrics answers, in bounded messages: a pod with
  // many containers carries a few hundred samples.
  v1::ListPodSandboxMetricsResponse all;
  v1::ListPodSandboxMetricsRequest list;
  if (grpc::Status s = ListPodSandboxMetrics(context, &list, &all); !s.ok()) {
    return s;
  }
  return StreamInChunks(
      all.mutable_pod_metrics(), writer,
      &v1::StreamPodSandboxMetricsResponse::mutable_pod_sandbox_metrics);
}

}  // namespace cradle
