#include "metrics/process.h"

#include <dirent.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "lite/files.h"

namespace cradle::metrics {
namespace {

std::string ProcPath(pid_t pid, absl::string_view file) {
  return pid == 0 ? absl::StrCat("/proc/self/", file)
                  : absl::StrCat("/proc/", pid, "/", file);
}

// /proc files are never empty while their process lives.
bool ReadFile(const std::string& path, std::string* out) {
  *out = lite::ReadFileOrEmpty(path);
  return !out->empty();
}

// "VmRSS:	  1234 kB" -> 1234 * 1024.
int64_t Kilobytes(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  value = absl::StripSuffix(value, "kB");
  int64_t kb = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &kb)) return 0;
  return kb * 1024;
}

int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the fd opendir itself holds
}

// Seconds since the epoch at which this process started: its start in
// clock ticks after boot plus the boot time.
double StartTimeSeconds() {
  std::string system;
  absl::StatusOr<int64_t> ticks = ReadStartTicks(0);
  if (!ticks.ok() || !ReadFile("/proc/stat", &system)) return 0;
  int64_t boot = 0;
  for (absl::string_view line : absl::StrSplit(system, '\n')) {
    if (absl::ConsumePrefix(&line, "btime "))
      (void)absl::SimpleAtoi(line, &boot);
  }
  long hz = sysconf(_SC_CLK_TCK);
  if (boot == 0 || hz <= 0) return 0;
  return static_cast<double>(boot) + static_cast<double>(*ticks) / hz;
}

}  // namespace

absl::StatusOr<int64_t> ReadStartTicks(pid_t pid) {
  std::string stat;
  if (!ReadFile(ProcPath(pid, "stat"), &stat)) {
    return absl::NotFoundError(absl::StrCat("no process ", pid));
  }
  // Fields after the command, which may hold spaces, end at the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) {
    return absl::DataLossError(absl::StrCat("unreadable /proc/", pid, "/stat"));
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ');
  // Field 3 (state) is fields[0], so field 22 (starttime) is fields[19].
  int64_t ticks = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &ticks)) {
    return absl::DataLossError(absl::StrCat("unreadable /proc/", pid, "/stat"));
  }
  return ticks;
}

absl::StatusOr<ProcStatus> ReadProcStatus(pid_t pid) {
  std::string text;
  if (!ReadFile(ProcPath(pid, "status"), &text)) {
    return absl::NotFoundError(absl::StrCat("no process ", pid));
  }
  ProcStatus out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, "VmRSS:")) {
      out.rss_bytes = Kilobytes(line);
    } else if (absl::ConsumePrefix(&line, "RssAnon:")) {
      out.rss_anon_bytes = Kilobytes(line);
    } else if (absl::ConsumePrefix(&line, "Threads:")) {
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &out.threads);
    }
  }
  return out;
}

void RegisterProcessMetrics(Registry* registry) {
  Gauge* rss = registry->AddGauge("cradle_process_resident_memory_bytes",
                                  "Resident memory of cradled (VmRSS).", {});
  Gauge* fds = registry->AddGauge("cradle_process_open_fds",
                                  "File descriptors cradled has open.", {});
  Gauge* threads =
      registry->AddGauge("cradle_process_threads", "Threads of cradled.", {});
  Gauge* start = registry->AddGauge(
      "cradle_process_start_time_seconds",
      "When cradled started, in seconds since the Unix epoch.", {});
  start->Set({}, StartTimeSeconds());
  registry->AddCollector([rss, fds, threads] {
    if (absl::StatusOr<ProcStatus> self = ReadProcStatus(0); self.ok()) {
      rss->Set({}, static_cast<double>(self->rss_bytes));
      threads->Set({}, static_cast<double>(self->threads));
    }
    if (int n = CountOpenFds(); n >= 0) fds->Set({}, n);
  });
}

}  // namespace cradle::metrics
