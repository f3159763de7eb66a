#include "cri/runtime/metrics_builder.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "lite/files.h"
#include "namespaces/pinned.h"

namespace cradle {
namespace {

namespace v1 = runtime::v1;

// Which label keys a series has beyond the base five.
enum class Extra { kNone, kInterface, kDevice, kFailure };

struct Spec {
  const char* name;
  v1::MetricType type;
  Extra extra;
  const char* help;
};

constexpr v1::MetricType kCounter = v1::COUNTER;
constexpr v1::MetricType kGauge = v1::GAUGE;

// The names, types and label sets are cAdvisor's (as the kubelet's
// /metrics/cadvisor has always shown them).
constexpr Spec kSpecs[] = {
    // CPU.
    {"container_cpu_usage_seconds_total", kCounter, Extra::kNone,
     "CPU time used, in seconds."},
    {"container_cpu_user_seconds_total", kCounter, Extra::kNone,
     "CPU time used in user mode, in seconds."},
    {"container_cpu_system_seconds_total", kCounter, Extra::kNone,
     "CPU time used in kernel mode, in seconds."},
    {"container_cpu_cfs_periods_total", kCounter, Extra::kNone,
     "CFS enforcement periods that have elapsed."},
    {"container_cpu_cfs_throttled_periods_total", kCounter, Extra::kNone,
     "CFS periods in which the cgroup was throttled."},
    {"container_cpu_cfs_throttled_seconds_total", kCounter, Extra::kNone,
     "Time the cgroup spent throttled, in seconds."},
    // Memory.
    {"container_memory_usage_bytes", kGauge, Extra::kNone,
     "Memory in use, page cache included, in bytes."},
    {"container_memory_max_usage_bytes", kGauge, Extra::kNone,
     "Highest memory use recorded, in bytes."},
    {"container_memory_working_set_bytes", kGauge, Extra::kNone,
     "Memory in use minus inactive page cache, in bytes: what eviction "
     "looks at."},
    {"container_memory_rss", kGauge, Extra::kNone,
     "Anonymous memory (and swap cache), in bytes."},
    {"container_memory_cache", kGauge, Extra::kNone, "Page cache, in bytes."},
    {"container_memory_mapped_file", kGauge, Extra::kNone,
     "Memory-mapped files, in bytes."},
    {"container_memory_swap", kGauge, Extra::kNone, "Swap in use, in bytes."},
    {"container_memory_kernel_usage", kGauge, Extra::kNone,
     "Kernel memory charged to the cgroup, in bytes."},
    {"container_memory_total_active_file_bytes", kGauge, Extra::kNone,
     "Active file-backed page cache, in bytes."},
    {"container_memory_total_inactive_file_bytes", kGauge, Extra::kNone,
     "Inactive file-backed page cache, in bytes."},
    {"container_memory_failcnt", kCounter, Extra::kNone,
     "Times memory use reached the cgroup v1 limit (0 on cgroup v2)."},
    {"container_memory_failures_total", kCounter, Extra::kFailure,
     "Page faults, by failure_type (pgfault, pgmajfault) and scope."},
    {"container_oom_events_total", kCounter, Extra::kNone,
     "Processes killed by the OOM killer in the cgroup."},
    // Processes.
    {"container_processes", kGauge, Extra::kNone, "Processes running."},
    {"container_threads", kGauge, Extra::kNone, "Threads running."},
    {"container_threads_max", kGauge, Extra::kNone,
     "Most threads allowed (pids.max); 0 when unlimited."},
    {"container_file_descriptors", kGauge, Extra::kNone,
     "File descriptors open."},
    {"container_sockets", kGauge, Extra::kNone, "Sockets open."},
    // Limits.
    {"container_spec_cpu_period", kGauge, Extra::kNone,
     "CFS period, in microseconds."},
    {"container_spec_cpu_quota", kGauge, Extra::kNone,
     "CFS quota per period, in microseconds; 0 when unlimited."},
    {"container_spec_cpu_shares", kGauge, Extra::kNone, "CPU shares."},
    {"container_spec_memory_limit_bytes", kGauge, Extra::kNone,
     "Memory limit, in bytes; 0 when unlimited."},
    // Pressure (cgroup v2 only): waiting is PSI "some", stalled "full".
    {"container_pressure_cpu_waiting_seconds_total", kCounter, Extra::kNone,
     "Time some task waited for CPU, in seconds."},
    {"container_pressure_cpu_stalled_seconds_total", kCounter, Extra::kNone,
     "Time all tasks were stalled on CPU, in seconds."},
    {"container_pressure_memory_waiting_seconds_total", kCounter, Extra::kNone,
     "Time some task waited for memory, in seconds."},
    {"container_pressure_memory_stalled_seconds_total", kCounter, Extra::kNone,
     "Time all tasks were stalled on memory, in seconds."},
    {"container_pressure_io_waiting_seconds_total", kCounter, Extra::kNone,
     "Time some task waited for I/O, in seconds."},
    {"container_pressure_io_stalled_seconds_total", kCounter, Extra::kNone,
     "Time all tasks were stalled on I/O, in seconds."},
    // Network, of the pod (its network namespace).
    {"container_network_receive_bytes_total", kCounter, Extra::kInterface,
     "Bytes received."},
    {"container_network_receive_packets_total", kCounter, Extra::kInterface,
     "Packets received."},
    {"container_network_receive_packets_dropped_total", kCounter,
     Extra::kInterface, "Packets dropped while receiving."},
    {"container_network_receive_errors_total", kCounter, Extra::kInterface,
     "Errors while receiving."},
    {"container_network_transmit_bytes_total", kCounter, Extra::kInterface,
     "Bytes transmitted."},
    {"container_network_transmit_packets_total", kCounter, Extra::kInterface,
     "Packets transmitted."},
    {"container_network_transmit_packets_dropped_total", kCounter,
     Extra::kInterface, "Packets dropped while transmitting."},
    {"container_network_transmit_errors_total", kCounter, Extra::kInterface,
     "Errors while transmitting."},
    // Filesystem: the container's writable layer.
    {"container_fs_usage_bytes", kGauge, Extra::kDevice,
     "Bytes the container's writable layer uses."},
    {"container_fs_limit_bytes", kGauge, Extra::kDevice,
     "Bytes the filesystem holding the writable layer has."},
    {"container_fs_inodes_total", kGauge, Extra::kDevice,
     "Inodes of the filesystem holding the writable layer."},
    {"container_fs_inodes_free", kGauge, Extra::kDevice,
     "Free inodes of the filesystem holding the writable layer."},
    // Times.
    {"container_start_time_seconds", kGauge, Extra::kNone,
     "When the container started, in seconds since the epoch."},
    {"container_last_seen", kGauge, Extra::kNone,
     "When the runtime last saw the container, in seconds since the epoch."},
};

const Spec* Find(absl::string_view name) {
  for (const Spec& s : kSpecs) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

size_t ExtraCount(Extra e) {
  switch (e) {
    case Extra::kNone:
      return 0;
    case Extra::kInterface:
    case Extra::kDevice:
      return 1;
    case Extra::kFailure:
      return 2;
  }
  return 0;
}

constexpr uint64_t kNanosPerSecond = 1000000000;

}  // namespace

std::vector<v1::MetricDescriptor> MetricDescriptors() {
  std::vector<v1::MetricDescriptor> out;
  for (const Spec& s : kSpecs) {
    v1::MetricDescriptor d;
    d.set_name(s.name);
    d.set_help(s.help);
    for (const char* k : {"pod", "namespace", "container", "id", "image"}) {
      d.add_label_keys(k);
    }
    switch (s.extra) {
      case Extra::kNone:
        break;
      case Extra::kInterface:
        d.add_label_keys("interface");
        break;
      case Extra::kDevice:
        d.add_label_keys("device");
        break;
      case Extra::kFailure:
        d.add_label_keys("failure_type");
        d.add_label_keys("scope");
        break;
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<InterfaceCounters> ParseNetDev(absl::string_view text) {
  std::vector<InterfaceCounters> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;  // the header lines
    std::string name(absl::StripAsciiWhitespace(line.substr(0, colon)));
    std::vector<absl::string_view> f =
        absl::StrSplit(line.substr(colon + 1), ' ', absl::SkipEmpty());
    if (f.size() < 16 || name == "lo") continue;
    uint64_t v[16] = {};
    for (int i = 0; i < 16; ++i) (void)absl::SimpleAtoi(f[i], &v[i]);
    // Receive: bytes packets errs drop fifo frame compressed multicast;
    // transmit: bytes packets errs drop fifo colls carrier compressed.
    InterfaceCounters c;
    c.name = std::move(name);
    c.rx_bytes = v[0];
    c.rx_packets = v[1];
    c.rx_errors = v[2];
    c.rx_dropped = v[3];
    c.tx_bytes = v[8];
    c.tx_packets = v[9];
    c.tx_errors = v[10];
    c.tx_dropped = v[11];
    out.push_back(std::move(c));
  }
  return out;
}

void FillPsi(const Psi& psi, v1::PsiStats* out) {
  auto fill = [](const PsiData& d, v1::PsiData* o) {
    o->set_total(d.total_us * 1000);
    o->set_avg10(d.avg10);
    o->set_avg60(d.avg60);
    o->set_avg300(d.avg300);
  };
  fill(psi.some, out->mutable_some());
  fill(psi.full, out->mutable_full());
}

void FillPressure(const CgroupPressure& p, int64_t now, v1::CpuUsage* cpu,
                  v1::MemoryUsage* memory, v1::IoUsage* io) {
  if (p.cpu.has_value()) FillPsi(*p.cpu, cpu->mutable_psi());
  if (p.memory.has_value()) FillPsi(*p.memory, memory->mutable_psi());
  if (p.io.has_value()) {
    io->set_timestamp(now);
    FillPsi(*p.io, io->mutable_psi());
  }
}

MetricsBuilder::MetricsBuilder(
    std::vector<std::string> base_labels, int64_t now,
    google::protobuf::RepeatedPtrField<v1::Metric>* out)
    : base_(std::move(base_labels)), now_(now), out_(out) {}

void MetricsBuilder::Add(absl::string_view name, uint64_t value,
                         std::vector<std::string> extra_labels) {
  const Spec* spec = Find(name);
  // A programming error; the kubelet would drop the sample anyway.
  if (spec == nullptr || extra_labels.size() != ExtraCount(spec->extra)) {
    LOG(DFATAL) << "metric " << name << " has no descriptor of its labels";
    return;
  }
  v1::Metric* m = out_->Add();
  m->set_name(spec->name);
  m->set_timestamp(now_);
  m->set_metric_type(spec->type);
  for (const std::string& l : base_) m->add_label_values(l);
  for (std::string& l : extra_labels) m->add_label_values(std::move(l));
  m->mutable_value()->set_value(value);
}

void MetricsBuilder::AddCgroup(const CgroupMetrics& m) {
  Add("container_cpu_usage_seconds_total", m.cpu_usage_ns / kNanosPerSecond);
  Add("container_cpu_user_seconds_total", m.cpu_user_ns / kNanosPerSecond);
  Add("container_cpu_system_seconds_total", m.cpu_system_ns / kNanosPerSecond);
  Add("container_cpu_cfs_periods_total", m.cfs_periods);
  Add("container_cpu_cfs_throttled_periods_total", m.cfs_throttled_periods);
  Add("container_cpu_cfs_throttled_seconds_total",
      m.cfs_throttled_ns / kNanosPerSecond);

  Add("container_memory_usage_bytes", m.memory_usage);
  Add("container_memory_max_usage_bytes", m.memory_max_usage);
  Add("container_memory_working_set_bytes", m.working_set);
  Add("container_memory_rss", m.rss);
  Add("container_memory_cache", m.cache);
  Add("container_memory_mapped_file", m.mapped_file);
  Add("container_memory_swap", m.swap);
  Add("container_memory_kernel_usage", m.kernel);
  Add("container_memory_total_active_file_bytes", m.active_file);
  Add("container_memory_total_inactive_file_bytes", m.inactive_file);
  Add("container_memory_failcnt", m.failcnt);
  // cAdvisor's scopes: "container" counts the cgroup and its children.
  Add("container_memory_failures_total", m.page_faults,
      {"pgfault", "container"});
  Add("container_memory_failures_total", m.major_page_faults,
      {"pgmajfault", "container"});
  Add("container_oom_events_total", m.oom_kills);

  Add("container_processes", m.processes);
  Add("container_threads", m.threads);
  Add("container_threads_max", m.threads_max.value_or(0));
  Add("container_file_descriptors", m.file_descriptors);
  Add("container_sockets", m.sockets);

  Add("container_spec_cpu_period", m.cpu_period_us);
  Add("container_spec_cpu_quota",
      m.cpu_quota_us > 0 ? static_cast<uint64_t>(m.cpu_quota_us) : 0);
  Add("container_spec_cpu_shares", m.cpu_shares);
  Add("container_spec_memory_limit_bytes", m.memory_limit.value_or(0));

  constexpr uint64_t kMicrosPerSecond = 1000000;
  if (m.cpu_psi.has_value()) {
    Add("container_pressure_cpu_waiting_seconds_total",
        m.cpu_psi->some.total_us / kMicrosPerSecond);
    Add("container_pressure_cpu_stalled_seconds_total",
        m.cpu_psi->full.total_us / kMicrosPerSecond);
  }
  if (m.memory_psi.has_value()) {
    Add("container_pressure_memory_waiting_seconds_total",
        m.memory_psi->some.total_us / kMicrosPerSecond);
    Add("container_pressure_memory_stalled_seconds_total",
        m.memory_psi->full.total_us / kMicrosPerSecond);
  }
  if (m.io_psi.has_value()) {
    Add("container_pressure_io_waiting_seconds_total",
        m.io_psi->some.total_us / kMicrosPerSecond);
    Add("container_pressure_io_stalled_seconds_total",
        m.io_psi->full.total_us / kMicrosPerSecond);
  }
}

void MetricsBuilder::AddNetwork(
    const std::vector<InterfaceCounters>& interfaces) {
  for (const InterfaceCounters& i : interfaces) {
    Add("container_network_receive_bytes_total", i.rx_bytes, {i.name});
    Add("container_network_receive_packets_total", i.rx_packets, {i.name});
    Add("container_network_receive_packets_dropped_total", i.rx_dropped,
        {i.name});
    Add("container_network_receive_errors_total", i.rx_errors, {i.name});
    Add("container_network_transmit_bytes_total", i.tx_bytes, {i.name});
    Add("container_network_transmit_packets_total", i.tx_packets, {i.name});
    Add("container_network_transmit_packets_dropped_total", i.tx_dropped,
        {i.name});
    Add("container_network_transmit_errors_total", i.tx_errors, {i.name});
  }
}

void MetricsBuilder::AddFilesystem(const FilesystemUsage& fs) {
  Add("container_fs_usage_bytes", fs.used_bytes, {fs.device});
  Add("container_fs_limit_bytes", fs.capacity_bytes, {fs.device});
  Add("container_fs_inodes_total", fs.inodes_total, {fs.device});
  Add("container_fs_inodes_free", fs.inodes_free, {fs.device});
}

void MetricsBuilder::AddTimes(int64_t started_at_nanos) {
  if (started_at_nanos > 0) {
    Add("container_start_time_seconds",
        static_cast<uint64_t>(started_at_nanos) / kNanosPerSecond);
  }
  Add("container_last_seen", static_cast<uint64_t>(now_) / kNanosPerSecond);
}

absl::StatusOr<std::vector<InterfaceCounters>> NamespaceInterfaces(
    const std::string& netns_path) {
  std::string text;
  absl::Status s = RunInNetworkNamespace(netns_path, [&] {
    text = lite::ReadFileOrEmpty("/proc/thread-self/net/dev");
  });
  if (!s.ok()) return s;
  return ParseNetDev(text);
}

}  // namespace cradle
