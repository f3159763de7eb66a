// UpdatePodSandboxResources: in-place pod resize. Writes the pod-level
// limits (the containers' sum plus the pod's overhead) onto the pod's own
// cgroup, the linux.cgroup_parent it was started with; with the systemd
// driver that slice's directory, written directly as runc's cgroupfs code
// does (systemd's unit properties are not changed). Nothing outside that
// cgroup is touched and nothing is created.
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "cgroups/resources.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"
#include "glog/logging.h"

namespace cradle {
namespace {

namespace v1 = runtime::v1;

// a + b for a > 0, the overhead b counted only when positive; saturates
// rather than overflow (a huge sum is refused by the kernel or validation).
int64_t PlusOverhead(int64_t a, int64_t b) {
  int64_t sum;
  if (b <= 0) return a;
  return __builtin_add_overflow(a, b, &sum)
             ? std::numeric_limits<int64_t>::max()
             : sum;
}

// The CRI's zero means "not set"; a negative value other than -1 is left
// for ValidateCgroupLimits to refuse.
CgroupLimits PodLimits(const v1::LinuxContainerResources& r,
                       const v1::LinuxContainerResources& overhead) {
  CgroupLimits l;
  if (r.cpu_shares() < 0) {
    l.cpu_shares = 0;  // out of range: refused
  } else if (r.cpu_shares() > 0) {
    l.cpu_shares = static_cast<uint64_t>(
        PlusOverhead(r.cpu_shares(), overhead.cpu_shares()));
  }
  if (r.cpu_period() != 0) {
    l.cpu_period_us = r.cpu_period() < 0 ? 0 : r.cpu_period();
  }
  if (r.cpu_quota() != 0) {
    l.cpu_quota_us = r.cpu_quota() > 0
                         ? PlusOverhead(r.cpu_quota(), overhead.cpu_quota())
                         : r.cpu_quota();
  }
  if (r.memory_limit_in_bytes() != 0) {
    l.memory_limit = r.memory_limit_in_bytes() > 0
                         ? PlusOverhead(r.memory_limit_in_bytes(),
                                        overhead.memory_limit_in_bytes())
                         : r.memory_limit_in_bytes();
  }
  if (!r.cpuset_cpus().empty()) l.cpuset_cpus = r.cpuset_cpus();
  if (!r.cpuset_mems().empty()) l.cpuset_mems = r.cpuset_mems();
  for (const v1::HugepageLimit& h : r.hugepage_limits()) {
    l.hugepage_limits[h.page_size()] = h.limit();
  }
  for (const v1::HugepageLimit& h : overhead.hugepage_limits()) {
    auto it = l.hugepage_limits.find(h.page_size());
    if (it != l.hugepage_limits.end()) {
      it->second = it->second + h.limit() < it->second
                       ? std::numeric_limits<uint64_t>::max()
                       : it->second + h.limit();
    }
  }
  return l;
}

grpc::Status Error(absl::string_view pod, const absl::Status& s) {
  return ToGrpc(absl::Status(
      s.code(), absl::StrCat("UpdatePodSandboxResources: pod sandbox ", pod,
                             ": ", s.message())));
}

}  // namespace

grpc::Status RuntimeService::UpdatePodSandboxResources(
    grpc::ServerContext*, const v1::UpdatePodSandboxResourcesRequest* request,
    v1::UpdatePodSandboxResourcesResponse*) {
  PodRecord pod;
  if (grpc::Status s = FindReadyPod("UpdatePodSandboxResources",
                                    request->pod_sandbox_id(), &pod);
      !s.ok()) {
    return s;
  }
  if (!request->has_resources()) {
    return Error(pod.id, absl::InvalidArgumentError(
                             "resources is not set: nothing to apply"));
  }
  v1::PodSandboxConfig config;
  config.ParseFromString(pod.config);
  const std::string& parent = config.linux().cgroup_parent();
  if (parent.empty()) {
    return Error(pod.id, absl::InvalidArgumentError(
                             "it was started without linux.cgroup_parent, so "
                             "it has no cgroup of its own to resize"));
  }
  absl::StatusOr<std::string> dir =
      PodCgroupDirectory(parent, options_.systemd_cgroup);
  if (!dir.ok()) return Error(pod.id, dir.status());
  CgroupLimits limits = PodLimits(request->resources(), request->overhead());
  if (!request->resources().unified().empty()) {
    // Pod-level unified keys have no v1 meaning; the kubelet sets them on
    // the pod cgroup itself.
    LOG(WARNING) << "pod=" << pod.id
                 << " UpdatePodSandboxResources ignores resources.unified";
  }
  if (absl::Status s =
          WriteCgroupLimits(cgroups_.root(), cgroups_.unified(), *dir, limits);
      !s.ok()) {
    LOG(WARNING) << "pod=" << pod.id << " resize of cgroup " << *dir
                 << " failed: " << s;
    return Error(pod.id, s);
  }
  LOG(INFO) << "pod=" << pod.id << " resized cgroup " << *dir;
  return grpc::Status::OK;
}

}  // namespace cradle
