// Facts about processes from /proc: the daemon's own gauges, and the memory
// of other processes (the shims) for collectors elsewhere.
#ifndef CRADLE_METRICS_PROCESS_H_
#define CRADLE_METRICS_PROCESS_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "metrics/metrics.h"

namespace cradle::metrics {

struct ProcStatus {
  int64_t rss_bytes = 0;       // VmRSS
  int64_t rss_anon_bytes = 0;  // RssAnon: what the process itself allocated
  int64_t threads = 0;
};

// /proc/<pid>/status (`pid` 0: this process). NotFound when it is gone.
absl::StatusOr<ProcStatus> ReadProcStatus(pid_t pid);

// When process `pid` (0: this one) started, in clock ticks after boot
// (/proc/<pid>/stat field 22): with the pid, it names one process even after
// the pid is reused. NotFound when it is gone.
absl::StatusOr<int64_t> ReadStartTicks(pid_t pid);

// Registers the daemon's process gauges, read at each scrape:
// cradle_process_resident_memory_bytes, cradle_process_open_fds,
// cradle_process_threads, cradle_process_start_time_seconds.
void RegisterProcessMetrics(Registry* registry);

}  // namespace cradle::metrics

#endif  // CRADLE_METRICS_PROCESS_H_
