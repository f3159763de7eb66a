// Resource usage of a cgroup, read from the cgroup filesystem. Works on the
// v1 hierarchies (one mount per controller) and on a v2 unified mount;
// which one the host has is decided once, at start.
#ifndef CRADLE_CGROUPS_STATS_H_
#define CRADLE_CGROUPS_STATS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle {

struct CgroupStats {
  uint64_t cpu_usage_ns = 0;
  uint64_t memory_usage = 0;
  // Usage minus inactive page cache: what the kubelet evicts on.
  uint64_t working_set = 0;
  uint64_t rss = 0;
  uint64_t page_faults = 0;
  uint64_t major_page_faults = 0;
  std::optional<uint64_t> memory_limit;  // nullopt: unlimited
  uint64_t pids = 0;
};

class CgroupReader {
 public:
  // The host's cgroup filesystem at `root`, v2 when it is a cgroup2 mount.
  static CgroupReader ForHost(const std::string& root = "/sys/fs/cgroup");
  CgroupReader(std::string root, bool unified)
      : root_(std::move(root)), unified_(unified) {}

  // Where the hierarchies are mounted: the one root for every reader and
  // writer of the host's cgroups.
  const std::string& root() const { return root_; }
  bool unified() const { return unified_; }

  // `path` as runc's cgroupsPath: "/a/b" (cgroupfs) or "slice:prefix:name"
  // (systemd). NotFound when the cgroup does not exist (yet, or any more),
  // and for the root cgroup (see DirectoryBelowRoot).
  absl::StatusOr<CgroupStats> Read(absl::string_view path) const;

  // A systemd-driver cgroupsPath as a directory: "a-b.slice:cradle:id" is
  // "/a.slice/a-b.slice/cradle-id.scope". Others are returned unchanged.
  static std::string Directory(absl::string_view path);

  // Directory(path) as a path below a hierarchy's root, starting with "/".
  // NotFound for the root cgroup itself ("", "/", "//", "/."): a container's
  // or pod's usage is never the whole host's. "" is what BundleCgroupsPath
  // gives once the bundle's config.json is gone (a container removed since
  // it was listed), and read as a directory it would be the root.
  static absl::StatusOr<std::string> DirectoryBelowRoot(absl::string_view path);

 private:
  absl::StatusOr<CgroupStats> ReadV1(const std::string& dir) const;
  absl::StatusOr<CgroupStats> ReadV2(const std::string& dir) const;

  std::string root_;
  bool unified_;
};

}  // namespace cradle

#endif  // CRADLE_CGROUPS_STATS_H_
