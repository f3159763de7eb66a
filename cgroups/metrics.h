// The detailed usage of one cgroup that the CRI's metrics calls report
// (cAdvisor's container_* series): CPU split and throttling, the memory
// breakdown, processes, threads and open files, the limits set on it, and
// pressure (PSI) where the cgroup is on a v2 hierarchy.
//
// Unlike stats.h (the few numbers the Summary API needs) this reads many
// files; a missing one reads as zero, since which exist depends on the
// kernel's configuration.
#ifndef CRADLE_CGROUPS_METRICS_H_
#define CRADLE_CGROUPS_METRICS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle {

// One line of a cgroup v2 *.pressure file.
struct PsiData {
  uint64_t total_us = 0;  // stalled time, cumulative
  double avg10 = 0;
  double avg60 = 0;
  double avg300 = 0;
};

struct Psi {
  PsiData some;  // some task waited
  PsiData full;  // all tasks stalled (cpu.pressure has it since 5.13)
};

// "some avg10=.. avg60=.. avg300=.. total=..\nfull ..."; nullopt when the
// text has no "some" line (PSI off, or not a pressure file).
std::optional<Psi> ParsePsi(absl::string_view text);

struct CgroupMetrics {
  uint64_t cpu_usage_ns = 0;
  uint64_t cpu_user_ns = 0;
  uint64_t cpu_system_ns = 0;
  uint64_t cfs_periods = 0;
  uint64_t cfs_throttled_periods = 0;
  uint64_t cfs_throttled_ns = 0;

  uint64_t memory_usage = 0;
  uint64_t memory_max_usage = 0;  // v1 max_usage_in_bytes, v2 memory.peak
  uint64_t working_set = 0;       // usage minus inactive file pages
  uint64_t rss = 0;               // anonymous memory
  uint64_t cache = 0;             // page cache
  uint64_t mapped_file = 0;
  uint64_t swap = 0;
  uint64_t kernel = 0;
  uint64_t active_file = 0;
  uint64_t inactive_file = 0;
  uint64_t page_faults = 0;
  uint64_t major_page_faults = 0;
  uint64_t failcnt = 0;  // v1 only: times usage hit the limit
  uint64_t oom_kills = 0;

  uint64_t processes = 0;               // entries of cgroup.procs
  uint64_t threads = 0;                 // tasks (v1) or cgroup.threads (v2)
  std::optional<uint64_t> threads_max;  // pids.max; nullopt: "max"
  uint64_t file_descriptors = 0;        // over the cgroup's processes
  uint64_t sockets = 0;

  // The limits set on the cgroup, cgroup v1's units.
  std::optional<uint64_t> memory_limit;  // nullopt: unlimited
  uint64_t cpu_period_us = 0;
  int64_t cpu_quota_us = -1;  // -1: unlimited
  uint64_t cpu_shares = 0;    // v2: cpu.weight mapped back to shares

  std::optional<Psi> cpu_psi;
  std::optional<Psi> memory_psi;
  std::optional<Psi> io_psi;
};

// Reads the cgroup `path` (a runc cgroupsPath, as CgroupReader::Read takes)
// below `root`: one mount per controller (v1) or the unified mount
// (`unified`). Open files are counted from `proc` (/proc/<pid>/fd).
// NotFound when the cgroup does not exist.
absl::StatusOr<CgroupMetrics> ReadCgroupMetrics(
    const std::string& root, bool unified, absl::string_view path,
    const std::string& proc = "/proc");

struct CgroupPressure {
  std::optional<Psi> cpu, memory, io;
};

// Only the pressure files of the cgroup, for the stats calls: all nullopt
// on v1 (`unified` false), a missing cgroup, or a kernel without PSI.
CgroupPressure ReadCgroupPressure(const std::string& root, bool unified,
                                  absl::string_view path);

}  // namespace cradle

#endif  // CRADLE_CGROUPS_METRICS_H_
