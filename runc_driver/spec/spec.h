// Builds an OCI runtime-spec config.json for runc from plain inputs.
//
// The CRI layer turns (image config, CRI container config, sandbox) into a
// ContainerSpecInput; this file knows the runtime spec and the defaults a
// container runtime is expected to apply (Docker's default capabilities,
// masked and read-only /proc paths, the standard mounts). It knows nothing
// of the CRI, so it is tested on its own.
#ifndef CRADLE_RUNC_DRIVER_SPEC_SPEC_H_
#define CRADLE_RUNC_DRIVER_SPEC_SPEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle::spec {

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
  std::string username;  // when known, for HOME
  std::string home;
};

struct BindMount {
  std::string container_path;
  std::string host_path;
  bool readonly = false;
  // "private" (default), "rslave" (host to container), "rshared" (both ways).
  std::string propagation = "private";
  // Submounts of host_path read-only too. The runtime cannot do this with
  // runc's options alone, so the CRI layer gives runc a read-only copy.
  bool recursive_readonly = false;
  // Shown through the pod's user namespace (an idmapped copy, made by the
  // CRI layer like the read-only one).
  bool idmapped = false;
  // More flags for the bind ("nosuid", "nodev", "noexec"), as CDI specs
  // give them: only ever restricting.
  std::vector<std::string> flags;
};

struct HugepageLimit {
  std::string page_size;  // "2MB", "1GB"
  uint64_t limit = 0;
};

// Zero / empty means "not set".
struct Resources {
  int64_t cpu_period = 0;
  int64_t cpu_quota = 0;
  int64_t cpu_shares = 0;
  std::string cpuset_cpus;
  std::string cpuset_mems;
  int64_t memory_limit = 0;
  int64_t memory_swap_limit = 0;
  int64_t pids_limit = 0;
  std::vector<HugepageLimit> hugepages;
  std::map<std::string, std::string> unified;  // cgroup v2 key -> value
};

enum class SeccompMode { kUnconfined, kRuntimeDefault, kLocalhost };

struct Security {
  bool privileged = false;
  bool readonly_rootfs = false;
  bool no_new_privs = false;
  std::vector<std::string>
      add_capabilities;  // "NET_ADMIN" or "CAP_NET_ADMIN", or "ALL"
  std::vector<std::string> drop_capabilities;  // likewise
  // What "ALL" (and privileged) grants. Unset: every capability cradle
  // knows; a runtime without all of them passes its own (runc cannot give
  // what it does not hold).
  std::optional<std::vector<std::string>> available_capabilities;
  SeccompMode seccomp = SeccompMode::kUnconfined;
  std::string seccomp_profile_json;  // for kLocalhost: the profile's content
  // When set, replace the default lists (CRI masked_paths / readonly_paths).
  std::optional<std::vector<std::string>> masked_paths;
  std::optional<std::vector<std::string>> readonly_paths;
};

// One range of a user namespace's id map: container ids
// [container_id, container_id + size) are host ids [host_id, ...).
struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
};

// A namespace: empty path = a new one; a path = join it. Not listed in
// `Namespaces` = the host's.
struct Namespaces {
  // With a user namespace the maps are given too, whether it is new or
  // joined: the runtime needs them to own what it creates for the container.
  std::optional<std::string> user;
  std::vector<IdMapping> uid_mappings;
  std::vector<IdMapping> gid_mappings;
  std::optional<std::string> network;
  std::optional<std::string> ipc;
  std::optional<std::string> uts;
  std::optional<std::string> pid;
  bool new_mount = true;
  bool new_cgroup = false;
};

// A device node made in the container's /dev (and allowed by its device
// cgroup), as CDI's deviceNodes and the CRI's devices describe one.
struct Device {
  std::string path;  // in the container
  char type = 'c';   // 'c', 'b' or 'p'
  int64_t major = 0;
  int64_t minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::string permissions = "rwm";  // what the device cgroup allows
};

// An OCI hook: a program the runtime runs at one point of the life cycle.
struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds
};

// Hooks by the OCI name of their point: "prestart", "createRuntime",
// "createContainer", "startContainer", "poststart", "poststop".
using Hooks = std::map<std::string, std::vector<Hook>>;

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct ContainerSpecInput {
  std::vector<std::string> args;
  std::vector<std::string> env;  // "K=V"; PATH and HOME get defaults if missing
  std::string cwd = "/";
  User user;
  bool terminal = false;
  std::string hostname;
  std::string rootfs;  // absolute path of the mounted root filesystem
  std::vector<BindMount> mounts;
  std::vector<Device> devices;
  Hooks hooks;
  // /dev/shm: a host path to bind (the pod's shared shm), or empty for a
  // private 64 MiB tmpfs.
  std::string shm_path;
  Resources resources;
  Security security;
  Namespaces namespaces;
  std::string cgroups_path;  // "/kubepods/pod/abc" or "slice:prefix:name"
  std::map<std::string, std::string> sysctls;
  std::vector<Rlimit> rlimits;
  std::map<std::string, std::string> annotations;
  std::optional<int> oom_score_adj;
};

// The OCI hook points ("prestart", ..., "poststop").
const std::set<std::string>& HookPoints();

// Mount flags that only take away ("nosuid", "noexec", ...): what a bind
// mount may carry besides ro/rw and propagation.
bool IsRestrictingMountFlag(const std::string& flag);

// The OCI config.json text. InvalidArgument for inputs runc would reject
// (an unknown capability, an unsupported propagation, a relative path).
absl::StatusOr<std::string> BuildSpec(const ContainerSpecInput& input);

// The capabilities this process holds in its effective set.
std::vector<std::string> OwnEffectiveCapabilities();

// Docker's default capability set, as "CAP_*" names.
const std::vector<std::string>& DefaultCapabilities();

// Resolves an image or CRI user ("", "name", "uid", "name:group", "uid:gid")
// against <rootfs>/etc/passwd and /etc/group, read without following any
// link out of the rootfs. Supplementary groups are those listing the user.
// The text is read by oci::ParseUserSpec, as ImageStatus reads it:
// InvalidArgument when a part is neither a valid id nor a valid name;
// NotFound names the user or group that has no entry.
// With `image_groups` false (the CRI's Strict supplemental groups policy)
// /etc/group is not read: no supplementary groups come from the image.
absl::StatusOr<User> ResolveUser(absl::string_view rootfs,
                                 absl::string_view user,
                                 bool image_groups = true);

// Reads a file of an untrusted root filesystem, resolving every path
// component inside `root` (openat2 RESOLVE_IN_ROOT). NotFound when absent.
absl::StatusOr<std::string> ReadFileInRoot(absl::string_view root,
                                           absl::string_view path);

}  // namespace cradle::spec

#endif  // CRADLE_RUNC_DRIVER_SPEC_SPEC_H_
