#include "cgroups/metrics.h"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cgroups/files.h"
#include "cgroups/stats.h"
#include "lite/files.h"

namespace cradle {
namespace {

using cgroups::Get;
using cgroups::IsDirectory;
using cgroups::ReadKeyed;
using cgroups::ReadNumber;

using cgroups::kV1Unlimited;

std::vector<std::string> Lines(const std::string& path) {
  return absl::StrSplit(lite::ReadFileOrEmpty(path), '\n', absl::SkipEmpty());
}

// The processes of the cgroup and of every cgroup below it (a pod's
// cgroup holds its containers' cgroups, not processes of its own).
std::vector<std::string> Processes(const std::string& dir) {
  std::vector<std::string> pids = Lines(dir + "/cgroup.procs");
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(
           dir, std::filesystem::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_directory(type_ec)) continue;
    for (std::string& pid : Lines(it->path().string() + "/cgroup.procs")) {
      pids.push_back(std::move(pid));
    }
  }
  return pids;
}

// Counts the processes below `dir` and their open files and sockets. A
// process that ends meanwhile simply counts nothing.
void CountProcesses(const std::string& dir, const std::string& proc,
                    CgroupMetrics* m) {
  std::vector<std::string> pids = Processes(dir);
  m->processes = pids.size();
  for (const std::string& pid : pids) {
    std::error_code ec;
    std::filesystem::directory_iterator it(absl::StrCat(proc, "/", pid, "/fd"),
                                           ec);
    for (; !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      ++m->file_descriptors;
      std::error_code link_ec;
      std::filesystem::path target =
          std::filesystem::read_symlink(it->path(), link_ec);
      if (!link_ec && absl::StartsWith(target.native(), "socket:")) {
        ++m->sockets;
      }
    }
  }
}

void ReadV1(const std::string& root, const std::string& dir,
            const std::string& proc, CgroupMetrics* m) {
  std::string cpu = absl::StrCat(root, "/cpu", dir);
  std::string cpuacct = absl::StrCat(root, "/cpuacct", dir);
  std::string memory = absl::StrCat(root, "/memory", dir);
  std::string pids = absl::StrCat(root, "/pids", dir);

  m->cpu_usage_ns = ReadNumber(cpuacct + "/cpuacct.usage").value_or(0);
  // cpuacct.stat counts clock ticks.
  std::map<std::string, uint64_t> ticks = ReadKeyed(cpuacct + "/cpuacct.stat");
  long hz = sysconf(_SC_CLK_TCK);
  uint64_t tick_ns = hz > 0 ? 1000000000 / static_cast<uint64_t>(hz) : 0;
  m->cpu_user_ns = Get(ticks, "user") * tick_ns;
  m->cpu_system_ns = Get(ticks, "system") * tick_ns;
  std::map<std::string, uint64_t> cpu_stat = ReadKeyed(cpu + "/cpu.stat");
  m->cfs_periods = Get(cpu_stat, "nr_periods");
  m->cfs_throttled_periods = Get(cpu_stat, "nr_throttled");
  m->cfs_throttled_ns = Get(cpu_stat, "throttled_time");
  m->cpu_period_us = ReadNumber(cpu + "/cpu.cfs_period_us").value_or(0);
  int64_t quota = -1;
  if (absl::SimpleAtoi(absl::StripAsciiWhitespace(
                           lite::ReadFileOrEmpty(cpu + "/cpu.cfs_quota_us")),
                       &quota)) {
    m->cpu_quota_us = quota;
  }
  m->cpu_shares = ReadNumber(cpu + "/cpu.shares").value_or(0);

  m->memory_usage = ReadNumber(memory + "/memory.usage_in_bytes").value_or(0);
  m->memory_max_usage =
      ReadNumber(memory + "/memory.max_usage_in_bytes").value_or(0);
  std::map<std::string, uint64_t> stat = ReadKeyed(memory + "/memory.stat");
  m->rss = Get(stat, "total_rss");
  m->cache = Get(stat, "total_cache");
  m->mapped_file = Get(stat, "total_mapped_file");
  m->swap = Get(stat, "total_swap");
  m->active_file = Get(stat, "total_active_file");
  m->inactive_file = Get(stat, "total_inactive_file");
  m->page_faults = Get(stat, "total_pgfault");
  m->major_page_faults = Get(stat, "total_pgmajfault");
  m->kernel = ReadNumber(memory + "/memory.kmem.usage_in_bytes").value_or(0);
  m->failcnt = ReadNumber(memory + "/memory.failcnt").value_or(0);
  m->oom_kills = Get(ReadKeyed(memory + "/memory.oom_control"), "oom_kill");
  std::optional<uint64_t> limit = ReadNumber(memory + "/memory.limit_in_bytes");
  if (limit.has_value() && *limit < kV1Unlimited) m->memory_limit = limit;

  // Processes from whichever controller has the cgroup: pids, else memory.
  std::string procs_dir = IsDirectory(pids) ? pids : memory;
  m->threads = ReadNumber(pids + "/pids.current")
                   .value_or(Lines(procs_dir + "/tasks").size());
  m->threads_max = ReadNumber(pids + "/pids.max");
  CountProcesses(procs_dir, proc, m);
}

void ReadV2(const std::string& dir, const std::string& proc, CgroupMetrics* m) {
  std::map<std::string, uint64_t> cpu_stat = ReadKeyed(dir + "/cpu.stat");
  m->cpu_usage_ns = Get(cpu_stat, "usage_usec") * 1000;
  m->cpu_user_ns = Get(cpu_stat, "user_usec") * 1000;
  m->cpu_system_ns = Get(cpu_stat, "system_usec") * 1000;
  m->cfs_periods = Get(cpu_stat, "nr_periods");
  m->cfs_throttled_periods = Get(cpu_stat, "nr_throttled");
  m->cfs_throttled_ns = Get(cpu_stat, "throttled_usec") * 1000;
  // cpu.max: "<quota|max> <period>".
  std::vector<std::string> max = absl::StrSplit(
      absl::StripAsciiWhitespace(lite::ReadFileOrEmpty(dir + "/cpu.max")), ' ',
      absl::SkipEmpty());
  if (max.size() == 2) {
    int64_t quota;
    if (max[0] != "max" && absl::SimpleAtoi(max[0], &quota)) {
      m->cpu_quota_us = quota;
    }
    (void)absl::SimpleAtoi(max[1], &m->cpu_period_us);
  }
  if (std::optional<uint64_t> weight = ReadNumber(dir + "/cpu.weight");
      weight.has_value() && *weight >= 1) {
    // The inverse of the shares-to-weight mapping runc and the kubelet use.
    m->cpu_shares = 2 + ((*weight - 1) * 262142) / 9999;
  }

  m->memory_usage = ReadNumber(dir + "/memory.current").value_or(0);
  m->memory_max_usage = ReadNumber(dir + "/memory.peak").value_or(0);
  std::map<std::string, uint64_t> stat = ReadKeyed(dir + "/memory.stat");
  m->rss = Get(stat, "anon");
  m->cache = Get(stat, "file");
  m->mapped_file = Get(stat, "file_mapped");
  m->kernel = Get(stat, "kernel");
  m->active_file = Get(stat, "active_file");
  m->inactive_file = Get(stat, "inactive_file");
  m->page_faults = Get(stat, "pgfault");
  m->major_page_faults = Get(stat, "pgmajfault");
  m->swap = ReadNumber(dir + "/memory.swap.current").value_or(0);
  m->oom_kills = Get(ReadKeyed(dir + "/memory.events"), "oom_kill");
  m->memory_limit = ReadNumber(dir + "/memory.max");  // "max": unlimited

  m->threads = ReadNumber(dir + "/pids.current")
                   .value_or(Lines(dir + "/cgroup.threads").size());
  m->threads_max = ReadNumber(dir + "/pids.max");
  CountProcesses(dir, proc, m);

  m->cpu_psi = ParsePsi(lite::ReadFileOrEmpty(dir + "/cpu.pressure"));
  m->memory_psi = ParsePsi(lite::ReadFileOrEmpty(dir + "/memory.pressure"));
  m->io_psi = ParsePsi(lite::ReadFileOrEmpty(dir + "/io.pressure"));
}

}  // namespace

std::optional<Psi> ParsePsi(absl::string_view text) {
  Psi psi;
  bool some = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.empty()) continue;
    PsiData* d = nullptr;
    if (fields[0] == "some") {
      d = &psi.some;
      some = true;
    } else if (fields[0] == "full") {
      d = &psi.full;
    } else {
      continue;
    }
    for (size_t i = 1; i < fields.size(); ++i) {
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(fields[i], absl::MaxSplits('=', 1));
      if (kv.first == "total") {
        (void)absl::SimpleAtoi(kv.second, &d->total_us);
      } else if (kv.first == "avg10") {
        (void)absl::SimpleAtod(kv.second, &d->avg10);
      } else if (kv.first == "avg60") {
        (void)absl::SimpleAtod(kv.second, &d->avg60);
      } else if (kv.first == "avg300") {
        (void)absl::SimpleAtod(kv.second, &d->avg300);
      }
    }
  }
  if (!some) return std::nullopt;
  return psi;
}

CgroupPressure ReadCgroupPressure(const std::string& root, bool unified,
                                  absl::string_view path) {
  CgroupPressure p;
  if (!unified) return p;
  // The root's pressure is the whole host's: none rather than that.
  absl::StatusOr<std::string> dir = CgroupReader::DirectoryBelowRoot(path);
  if (!dir.ok()) return p;
  p.cpu = ParsePsi(lite::ReadFileOrEmpty(root + *dir + "/cpu.pressure"));
  p.memory = ParsePsi(lite::ReadFileOrEmpty(root + *dir + "/memory.pressure"));
  p.io = ParsePsi(lite::ReadFileOrEmpty(root + *dir + "/io.pressure"));
  return p;
}

absl::StatusOr<CgroupMetrics> ReadCgroupMetrics(const std::string& root,
                                                bool unified,
                                                absl::string_view path,
                                                const std::string& proc) {
  // Refuses the root: its usage is not a container's, and counting its
  // processes' files would walk every cgroup and /proc/*/fd on the host.
  absl::StatusOr<std::string> below = CgroupReader::DirectoryBelowRoot(path);
  if (!below.ok()) return below.status();
  const std::string& dir = *below;
  // v1 keys existence on the memory controller, as CgroupReader does.
  std::string probe = unified ? root + dir : absl::StrCat(root, "/memory", dir);
  if (!IsDirectory(probe)) {
    return absl::NotFoundError(absl::StrCat("no cgroup ", dir));
  }
  CgroupMetrics m;
  if (unified) {
    ReadV2(root + dir, proc, &m);
  } else {
    ReadV1(root, dir, proc, &m);
  }
  m.working_set =
      m.memory_usage > m.inactive_file ? m.memory_usage - m.inactive_file : 0;
  return m;
}

}  // namespace cradle
