#include "containerd_api/task_metrics.h"

#include <unistd.h>

#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "cgroups/files.h"
#include "containerd_api/api_context.h"

namespace cradle::containerd_api {
namespace {

namespace cgv1 = ::io::containerd::cgroups::v1;

// What a v1 memory.limit_in_bytes holds when no limit is set: the kernel's
// largest page count in bytes, 9223372036854771712 with 4 KiB pages. The
// reader turns it into "unlimited"; containerd reports the raw number, and
// ctr prints it, so it is given back as the kernel wrote it.
uint64_t V1UnlimitedBytes() {
  long page = sysconf(_SC_PAGESIZE);
  uint64_t p = page > 0 ? static_cast<uint64_t>(page) : 4096;
  return static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / p * p;
}

}  // namespace

const CgroupReader& HostCgroups() {
  static const CgroupReader* const reader =
      new CgroupReader(CgroupReader::ForHost());
  return *reader;
}

cgv1::Metrics ToV1Metrics(const CgroupMetrics& m, const V1Controllers& have) {
  cgv1::Metrics out;
  if (have.pids) {
    cgv1::PidsStat* pids = out.mutable_pids();
    pids->set_current(m.threads);  // pids.current counts threads
    // pids.max "max" is 0 in containerd's message.
    pids->set_limit(m.threads_max.value_or(0));
  }
  if (have.cpuacct || have.cpu) {
    cgv1::CPUStat* cpu = out.mutable_cpu();
    if (have.cpuacct) {
      cgv1::CPUUsage* usage = cpu->mutable_usage();
      usage->set_total(m.cpu_usage_ns);
      usage->set_kernel(m.cpu_system_ns);
      usage->set_user(m.cpu_user_ns);
    }
    if (have.cpu) {
      cgv1::Throttle* t = cpu->mutable_throttling();
      t->set_periods(m.cfs_periods);
      t->set_throttled_periods(m.cfs_throttled_periods);
      t->set_throttled_time(m.cfs_throttled_ns);
    }
  }
  if (have.memory) {
    cgv1::MemoryStat* mem = out.mutable_memory();
    // The reader gives memory.stat's hierarchical (total_*) counters. A
    // task's cgroup is a leaf (runc makes no cgroups below it), so its own
    // counters are the same numbers and both fields carry them.
    mem->set_cache(m.cache);
    mem->set_total_cache(m.cache);
    mem->set_rss(m.rss);
    mem->set_total_rss(m.rss);
    mem->set_mapped_file(m.mapped_file);
    mem->set_total_mapped_file(m.mapped_file);
    mem->set_active_file(m.active_file);
    mem->set_total_active_file(m.active_file);
    mem->set_inactive_file(m.inactive_file);
    mem->set_total_inactive_file(m.inactive_file);
    mem->set_pg_fault(m.page_faults);
    mem->set_total_pg_fault(m.page_faults);
    mem->set_pg_maj_fault(m.major_page_faults);
    mem->set_total_pg_maj_fault(m.major_page_faults);
    // Always set when memory is: ctr dereferences it unchecked.
    cgv1::MemoryEntry* usage = mem->mutable_usage();
    usage->set_usage(m.memory_usage);
    usage->set_max(m.memory_max_usage);
    usage->set_failcnt(m.failcnt);
    usage->set_limit(m.memory_limit.value_or(V1UnlimitedBytes()));
    mem->mutable_kernel()->set_usage(m.kernel);
    out.mutable_memory_oom_control()->set_oom_kill(m.oom_kills);
  }
  return out;
}

absl::StatusOr<::containerd::types::Metric> TaskMetric(
    const std::string& id, absl::string_view cgroups_path,
    const CgroupReader& cgroups, absl::Time now) {
  if (cgroups.unified()) {
    return absl::UnimplementedError(
        "task metrics on a cgroup v2 host (io.containerd.cgroups.v2.Metrics) "
        "are not served; use crictl stats or read the cgroup");
  }
  // NotFound for the root cgroup too ("" once the bundle is gone): never
  // the whole host's usage as a task's.
  absl::StatusOr<std::string> dir =
      CgroupReader::DirectoryBelowRoot(cgroups_path);
  if (!dir.ok()) return dir.status();
  absl::StatusOr<CgroupMetrics> read =
      ReadCgroupMetrics(cgroups.root(), /*unified=*/false, cgroups_path);
  if (!read.ok()) return read.status();
  auto has = [&](const char* controller) {
    return cgroups::IsDirectory(
        absl::StrCat(cgroups.root(), "/", controller, *dir));
  };
  V1Controllers have;
  have.cpu = has("cpu");
  have.cpuacct = has("cpuacct");
  have.pids = has("pids");
  have.memory = has("memory");

  ::containerd::types::Metric metric;
  *metric.mutable_timestamp() = ToProto(now);
  metric.set_id(id);
  google::protobuf::Any* data = metric.mutable_data();
  data->set_type_url(kCgroupsV1MetricsType);
  if (!ToV1Metrics(*read, have).SerializeToString(data->mutable_value())) {
    return absl::InternalError(
        absl::StrCat("task ", id, ": metrics do not serialize"));
  }
  return metric;
}

}  // namespace cradle::containerd_api
