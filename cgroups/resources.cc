#include "cgroups/resources.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cgroups/files.h"
#include "lite/files.h"

namespace cradle {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

bool AllDigits(absl::string_view s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

// The kernel's list syntax: "0-3,6".
bool IsCpuList(absl::string_view s) {
  if (s.empty()) return false;
  for (absl::string_view range : absl::StrSplit(s, ',')) {
    std::vector<absl::string_view> ends = absl::StrSplit(range, '-');
    if (ends.size() > 2) return false;
    uint64_t prev = 0;
    for (size_t i = 0; i < ends.size(); ++i) {
      uint64_t v;
      // Digits only: SimpleAtoi would let whitespace through.
      if (!AllDigits(ends[i]) || !absl::SimpleAtoi(ends[i], &v) ||
          (i == 1 && v < prev)) {
        return false;
      }
      prev = v;
    }
  }
  return true;
}

// "2MB", "1GB", "64KB": what the hugetlb files are named by.
bool IsPageSize(absl::string_view s) {
  if (s.size() < 3 || !absl::EndsWith(s, "B")) return false;
  char unit = s[s.size() - 2];
  if (unit != 'K' && unit != 'M' && unit != 'G') return false;
  uint64_t n;
  absl::string_view digits = s.substr(0, s.size() - 2);
  return AllDigits(digits) && absl::SimpleAtoi(digits, &n) && n > 0;
}

// One write of `value` to an existing cgroup file; the kernel's refusal
// named with the file.
absl::Status WriteFile(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  int err = 0;
  if (fd < 0) {
    err = errno;
  } else {
    if (!lite::WriteFully(fd, value)) err = errno;
    if (close(fd) != 0 && err == 0) err = errno;
  }
  if (err == 0) return absl::OkStatus();
  std::string msg =
      absl::StrCat("writing \"", value, "\" to ", path, ": ", strerror(err));
  switch (err) {
    case ENOENT:
      return absl::FailedPreconditionError(
          absl::StrCat(msg, " (the kernel does not offer this limit here)"));
    case EBUSY:
      return absl::FailedPreconditionError(absl::StrCat(
          msg, " (the cgroup's current usage or children forbid it)"));
    case EINVAL:
    case ERANGE:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// The cgroup's directory in `controller` (v1) or the unified one (v2);
// FailedPrecondition when it does not exist there.
absl::StatusOr<std::string> ControllerDir(const std::string& root, bool unified,
                                          absl::string_view controller,
                                          const std::string& dir) {
  std::string path =
      unified ? root + dir : absl::StrCat(root, "/", controller, dir);
  if (!cgroups::IsDirectory(path)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cgroup ", dir, " does not exist",
        unified ? "" : absl::StrCat(" in the ", controller, " controller"),
        " (", path, ")"));
  }
  return path;
}

absl::Status WriteCpu(const std::string& root, bool unified,
                      const std::string& dir, const CgroupLimits& l) {
  if (!l.cpu_shares && !l.cpu_period_us && !l.cpu_quota_us) {
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> cpu = ControllerDir(root, unified, "cpu", dir);
  if (!cpu.ok()) return cpu.status();
  if (unified) {
    if (l.cpu_shares) {
      if (absl::Status s =
              WriteFile(*cpu + "/cpu.weight",
                        absl::StrCat(SharesToWeight(*l.cpu_shares)));
          !s.ok()) {
        return s;
      }
    }
    if (!l.cpu_period_us && !l.cpu_quota_us) return absl::OkStatus();
    // cpu.max holds both; keep the half that is not being changed.
    std::vector<std::string> now = absl::StrSplit(
        absl::StripAsciiWhitespace(lite::ReadFileOrEmpty(*cpu + "/cpu.max")),
        ' ', absl::SkipEmpty());
    std::string quota = now.size() == 2 ? now[0] : "max";
    std::string period = now.size() == 2 ? now[1] : "100000";
    if (l.cpu_quota_us) {
      quota = *l.cpu_quota_us < 0 ? "max" : absl::StrCat(*l.cpu_quota_us);
    }
    if (l.cpu_period_us) period = absl::StrCat(*l.cpu_period_us);
    return WriteFile(*cpu + "/cpu.max", absl::StrCat(quota, " ", period));
  }
  if (l.cpu_shares) {
    if (absl::Status s =
            WriteFile(*cpu + "/cpu.shares", absl::StrCat(*l.cpu_shares));
        !s.ok()) {
      return s;
    }
  }
  std::string period_file = *cpu + "/cpu.cfs_period_us";
  std::string quota_file = *cpu + "/cpu.cfs_quota_us";
  if (l.cpu_period_us) {
    absl::Status s = WriteFile(period_file, absl::StrCat(*l.cpu_period_us));
    if (s.ok() || !l.cpu_quota_us ||
        s.code() != absl::StatusCode::kInvalidArgument) {
      if (!s.ok()) return s;
    } else {
      // The old quota may not fit the new period (v1 checks quota against
      // the hierarchy): set the quota first, then the period.
      if (absl::Status q = WriteFile(quota_file, absl::StrCat(*l.cpu_quota_us));
          !q.ok()) {
        return q;
      }
      return WriteFile(period_file, absl::StrCat(*l.cpu_period_us));
    }
  }
  if (l.cpu_quota_us) {
    return WriteFile(quota_file, absl::StrCat(*l.cpu_quota_us));
  }
  return absl::OkStatus();
}

absl::Status WriteMemory(const std::string& root, bool unified,
                         const std::string& dir, const CgroupLimits& l) {
  if (!l.memory_limit) return absl::OkStatus();
  absl::StatusOr<std::string> mem = ControllerDir(root, unified, "memory", dir);
  if (!mem.ok()) return mem.status();
  if (unified) {
    return WriteFile(*mem + "/memory.max", *l.memory_limit < 0
                                               ? std::string("max")
                                               : absl::StrCat(*l.memory_limit));
  }
  return WriteFile(*mem + "/memory.limit_in_bytes",
                   absl::StrCat(*l.memory_limit));
}

absl::Status WriteCpuset(const std::string& root, bool unified,
                         const std::string& dir, const CgroupLimits& l) {
  if (!l.cpuset_cpus && !l.cpuset_mems) return absl::OkStatus();
  absl::StatusOr<std::string> cs = ControllerDir(root, unified, "cpuset", dir);
  if (!cs.ok()) return cs.status();
  if (l.cpuset_mems) {
    if (absl::Status s = WriteFile(*cs + "/cpuset.mems", *l.cpuset_mems);
        !s.ok()) {
      return s;
    }
  }
  if (l.cpuset_cpus) return WriteFile(*cs + "/cpuset.cpus", *l.cpuset_cpus);
  return absl::OkStatus();
}

absl::Status WriteHugetlb(const std::string& root, bool unified,
                          const std::string& dir, const CgroupLimits& l) {
  if (l.hugepage_limits.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> h = ControllerDir(root, unified, "hugetlb", dir);
  if (!h.ok()) return h.status();
  for (const auto& [size, bytes] : l.hugepage_limits) {
    std::string file = absl::StrCat(*h, "/hugetlb.", size,
                                    unified ? ".max" : ".limit_in_bytes");
    if (absl::Status s = WriteFile(file, absl::StrCat(bytes)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t SharesToWeight(uint64_t shares) {
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

absl::Status ValidateCgroupLimits(const CgroupLimits& l) {
  if (l.cpu_shares && (*l.cpu_shares < 2 || *l.cpu_shares > 262144)) {
    return Invalid("cpu_shares",
                   absl::StrCat(*l.cpu_shares, " is outside 2..262144"));
  }
  if (l.cpu_period_us &&
      (*l.cpu_period_us < 1000 || *l.cpu_period_us > 1000000)) {
    return Invalid(
        "cpu_period",
        absl::StrCat(*l.cpu_period_us, " is outside 1000..1000000 (us)"));
  }
  if (l.cpu_quota_us && *l.cpu_quota_us != -1 && *l.cpu_quota_us < 1000) {
    return Invalid(
        "cpu_quota",
        absl::StrCat(*l.cpu_quota_us,
                     " must be -1 (unlimited) or at least 1000 (us)"));
  }
  if (l.memory_limit && *l.memory_limit != -1 && *l.memory_limit < 4096) {
    return Invalid("memory_limit_in_bytes",
                   absl::StrCat(*l.memory_limit,
                                " must be -1 (unlimited) or at least a page"));
  }
  if (l.cpuset_cpus && !IsCpuList(*l.cpuset_cpus)) {
    return Invalid("cpuset_cpus", absl::StrCat("\"", *l.cpuset_cpus,
                                               "\" is not a list like 0-3,6"));
  }
  if (l.cpuset_mems && !IsCpuList(*l.cpuset_mems)) {
    return Invalid("cpuset_mems", absl::StrCat("\"", *l.cpuset_mems,
                                               "\" is not a list like 0-1"));
  }
  for (const auto& [size, bytes] : l.hugepage_limits) {
    if (!IsPageSize(size)) {
      return Invalid(
          "hugepage_limits.page_size",
          absl::StrCat("\"", size, "\" is not a size like 2MB or 1GB"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> PodCgroupDirectory(absl::string_view parent,
                                               bool systemd) {
  if (systemd) {
    absl::string_view stem = parent;
    if (!absl::ConsumeSuffix(&stem, ".slice") || stem.empty() || stem == "-" ||
        absl::StrContains(stem, '/') || absl::StrContains(stem, "--") ||
        absl::StartsWith(stem, "-") || absl::EndsWith(stem, "-")) {
      return Invalid("linux.cgroup_parent",
                     absl::StrCat("\"", parent,
                                  "\" is not a systemd slice below the root "
                                  "(e.g. kubepods-burstable-pod1.slice)"));
    }
    return cgroups::SliceDirectory(parent);
  }
  std::vector<absl::string_view> parts;
  for (absl::string_view p : absl::StrSplit(parent, '/', absl::SkipEmpty())) {
    if (p == ".") continue;
    if (p == "..") {
      return Invalid("linux.cgroup_parent",
                     absl::StrCat("\"", parent, "\" has \"..\" components"));
    }
    parts.push_back(p);
  }
  if (parts.empty()) {
    return Invalid(
        "linux.cgroup_parent",
        absl::StrCat("\"", parent, "\" names the root cgroup, not a pod's"));
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

absl::Status WriteCgroupLimits(const std::string& root, bool unified,
                               const std::string& dir,
                               const CgroupLimits& limits) {
  if (absl::Status s = ValidateCgroupLimits(limits); !s.ok()) return s;
  if (!absl::StartsWith(dir, "/") || dir == "/" ||
      absl::StrContains(dir, "..")) {
    return Invalid(
        "cgroup", absl::StrCat("\"", dir, "\" is not a cgroup below the root"));
  }
  // Memory first: when growing cpuset or cpu the order does not matter, and
  // a refused memory limit (usage above it) leaves the rest untouched.
  if (absl::Status s = WriteMemory(root, unified, dir, limits); !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteCpu(root, unified, dir, limits); !s.ok()) return s;
  if (absl::Status s = WriteCpuset(root, unified, dir, limits); !s.ok()) {
    return s;
  }
  return WriteHugetlb(root, unified, dir, limits);
}

}  // namespace cradle
