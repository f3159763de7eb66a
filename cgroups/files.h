// Reading cgroup files, and where a systemd slice lives: what CgroupReader
// (stats.h), the metrics reader (metrics.h) and the limits writer
// (resources.h) share, so that they read the same files the same way.
//
// A missing or unreadable file reads as empty (nullopt, zero): which files
// a cgroup has depends on the kernel's configuration and the controllers
// enabled on it, and a cgroup can go away between two reads.
#ifndef CRADLE_CGROUPS_FILES_H_
#define CRADLE_CGROUPS_FILES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace cradle::cgroups {

// v1 reports "no limit" as a huge page-aligned number: anything at or above
// this is unlimited.
inline constexpr uint64_t kV1Unlimited = uint64_t{1} << 62;

// A file holding one unsigned number ("4096\n"); nullopt when it is missing
// or holds something else (v2's "max").
std::optional<uint64_t> ReadNumber(const std::string& path);

// A file of "key value" lines (memory.stat, cpu.stat, memory.events,
// cpuacct.stat, memory.oom_control); lines of another shape are skipped.
std::map<std::string, uint64_t> ReadKeyed(const std::string& path);

// `key`'s value in what ReadKeyed returned; 0 when absent.
uint64_t Get(const std::map<std::string, uint64_t>& values, const char* key);

bool IsDirectory(const std::string& path);

// A systemd slice's directory below the hierarchy's root: each dash nests,
// so "a-b.slice" is "/a.slice/a-b.slice". The ".slice" suffix is optional.
// No validation: callers refuse what is not a slice name.
std::string SliceDirectory(absl::string_view slice);

}  // namespace cradle::cgroups

#endif  // CRADLE_CGROUPS_FILES_H_
