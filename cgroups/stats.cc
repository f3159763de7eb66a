#include "cgroups/stats.h"

#include <linux/magic.h>
#include <sys/statfs.h>

#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cgroups/files.h"

namespace cradle {
namespace {

using cgroups::Get;
using cgroups::IsDirectory;
using cgroups::ReadKeyed;
using cgroups::ReadNumber;

using cgroups::kV1Unlimited;

}  // namespace

CgroupReader CgroupReader::ForHost(const std::string& root) {
  struct statfs fs;
  bool unified =
      statfs(root.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
  return CgroupReader(root, unified);
}

std::string CgroupReader::Directory(absl::string_view path) {
  std::vector<std::string> parts = absl::StrSplit(path, ':');
  if (parts.size() != 3) return std::string(path);
  // runc's default slice when the cgroupsPath names none.
  std::string dir =
      cgroups::SliceDirectory(parts[0].empty() ? "system.slice" : parts[0]);
  absl::StrAppend(&dir, "/", parts[1], "-", parts[2], ".scope");
  return dir;
}

absl::StatusOr<std::string> CgroupReader::DirectoryBelowRoot(
    absl::string_view path) {
  std::string dir = Directory(path);
  if (!absl::StartsWith(dir, "/")) dir = "/" + dir;
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    if (part != ".") return dir;
  }
  return absl::NotFoundError(
      absl::StrCat("cgroup path \"", path,
                   "\" is the root cgroup, not a container's or pod's"));
}

absl::StatusOr<CgroupStats> CgroupReader::Read(absl::string_view path) const {
  absl::StatusOr<std::string> dir = DirectoryBelowRoot(path);
  if (!dir.ok()) return dir.status();
  return unified_ ? ReadV2(*dir) : ReadV1(*dir);
}

absl::StatusOr<CgroupStats> CgroupReader::ReadV1(const std::string& dir) const {
  std::string memory = absl::StrCat(root_, "/memory", dir);
  if (!IsDirectory(memory)) {
    return absl::NotFoundError(absl::StrCat("no cgroup ", dir));
  }
  CgroupStats s;
  s.cpu_usage_ns =
      ReadNumber(absl::StrCat(root_, "/cpuacct", dir, "/cpuacct.usage"))
          .value_or(0);
  s.memory_usage = ReadNumber(memory + "/memory.usage_in_bytes").value_or(0);
  std::map<std::string, uint64_t> stat = ReadKeyed(memory + "/memory.stat");
  uint64_t inactive = Get(stat, "total_inactive_file");
  s.working_set = s.memory_usage > inactive ? s.memory_usage - inactive : 0;
  s.rss = Get(stat, "total_rss");
  s.page_faults = Get(stat, "total_pgfault");
  s.major_page_faults = Get(stat, "total_pgmajfault");
  std::optional<uint64_t> limit = ReadNumber(memory + "/memory.limit_in_bytes");
  if (limit.has_value() && *limit < kV1Unlimited) s.memory_limit = limit;
  s.pids = ReadNumber(absl::StrCat(root_, "/pids", dir, "/pids.current"))
               .value_or(0);
  return s;
}

absl::StatusOr<CgroupStats> CgroupReader::ReadV2(const std::string& dir) const {
  std::string path = root_ + dir;
  if (!IsDirectory(path)) {
    return absl::NotFoundError(absl::StrCat("no cgroup ", dir));
  }
  CgroupStats s;
  s.cpu_usage_ns = Get(ReadKeyed(path + "/cpu.stat"), "usage_usec") * 1000;
  s.memory_usage = ReadNumber(path + "/memory.current").value_or(0);
  std::map<std::string, uint64_t> stat = ReadKeyed(path + "/memory.stat");
  uint64_t inactive = Get(stat, "inactive_file");
  s.working_set = s.memory_usage > inactive ? s.memory_usage - inactive : 0;
  s.rss = Get(stat, "anon");
  s.page_faults = Get(stat, "pgfault");
  s.major_page_faults = Get(stat, "pgmajfault");
  s.memory_limit = ReadNumber(path + "/memory.max");  // "max": unlimited
  s.pids = ReadNumber(path + "/pids.current").value_or(0);
  return s;
}

}  // namespace cradle
