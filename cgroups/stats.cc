#include "cgroups/stats.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cradle {
namespace {

// v1 reports "no limit" as a huge page-aligned number.
constexpr uint64_t kV1Unlimited = uint64_t{1} << 62;

std::optional<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<uint64_t> ReadNumber(const std::string& path) {
  std::optional<std::string> text = ReadText(path);
  uint64_t v = 0;
  if (!text.has_value() ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v)) {
    return std::nullopt;
  }
  return v;
}

// "key value" lines (memory.stat, cpu.stat).
std::map<std::string, uint64_t> ReadKeyed(const std::string& path) {
  std::map<std::string, uint64_t> values;
  std::optional<std::string> text = ReadText(path);
  if (!text.has_value()) return values;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::vector<absl::string_view> kv =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t v;
    if (kv.size() == 2 && absl::SimpleAtoi(kv[1], &v)) {
      values[std::string(kv[0])] = v;
    }
  }
  return values;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

uint64_t Get(const std::map<std::string, uint64_t>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

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
  // Each dash in a slice's name nests it: a-b.slice lives in a.slice.
  std::string dir;
  std::string slice = parts[0].empty() ? "system.slice" : parts[0];
  absl::string_view stem = slice;
  absl::ConsumeSuffix(&stem, ".slice");
  std::string prefix;
  for (absl::string_view piece : absl::StrSplit(stem, '-')) {
    prefix =
        prefix.empty() ? std::string(piece) : absl::StrCat(prefix, "-", piece);
    absl::StrAppend(&dir, "/", prefix, ".slice");
  }
  absl::StrAppend(&dir, "/", parts[1], "-", parts[2], ".scope");
  return dir;
}

absl::StatusOr<CgroupStats> CgroupReader::Read(absl::string_view path) const {
  std::string dir = Directory(path);
  if (!absl::StartsWith(dir, "/")) dir = "/" + dir;
  return unified_ ? ReadV2(dir) : ReadV1(dir);
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
