#include "runc_driver/spec/spec.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runc_driver/spec/seccomp.h"

namespace cradle::spec {
namespace {

using nlohmann::json;

constexpr char kDefaultPath[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const std::vector<std::string>& AllCapabilities() {
  static const auto* all =
      new std::vector<std::string>{"CAP_CHOWN",
                                   "CAP_DAC_OVERRIDE",
                                   "CAP_DAC_READ_SEARCH",
                                   "CAP_FOWNER",
                                   "CAP_FSETID",
                                   "CAP_KILL",
                                   "CAP_SETGID",
                                   "CAP_SETUID",
                                   "CAP_SETPCAP",
                                   "CAP_LINUX_IMMUTABLE",
                                   "CAP_NET_BIND_SERVICE",
                                   "CAP_NET_BROADCAST",
                                   "CAP_NET_ADMIN",
                                   "CAP_NET_RAW",
                                   "CAP_IPC_LOCK",
                                   "CAP_IPC_OWNER",
                                   "CAP_SYS_MODULE",
                                   "CAP_SYS_RAWIO",
                                   "CAP_SYS_CHROOT",
                                   "CAP_SYS_PTRACE",
                                   "CAP_SYS_PACCT",
                                   "CAP_SYS_ADMIN",
                                   "CAP_SYS_BOOT",
                                   "CAP_SYS_NICE",
                                   "CAP_SYS_RESOURCE",
                                   "CAP_SYS_TIME",
                                   "CAP_SYS_TTY_CONFIG",
                                   "CAP_MKNOD",
                                   "CAP_LEASE",
                                   "CAP_AUDIT_WRITE",
                                   "CAP_AUDIT_CONTROL",
                                   "CAP_SETFCAP",
                                   "CAP_MAC_OVERRIDE",
                                   "CAP_MAC_ADMIN",
                                   "CAP_SYSLOG",
                                   "CAP_WAKE_ALARM",
                                   "CAP_BLOCK_SUSPEND",
                                   "CAP_AUDIT_READ",
                                   "CAP_PERFMON",
                                   "CAP_BPF",
                                   "CAP_CHECKPOINT_RESTORE"};
  return *all;
}

const std::vector<std::string>& DefaultMaskedPaths() {
  static const auto* paths =
      new std::vector<std::string>{"/proc/acpi",
                                   "/proc/asound",
                                   "/proc/kcore",
                                   "/proc/keys",
                                   "/proc/latency_stats",
                                   "/proc/timer_list",
                                   "/proc/timer_stats",
                                   "/proc/sched_debug",
                                   "/proc/scsi",
                                   "/sys/firmware",
                                   "/sys/devices/virtual/powercap"};
  return *paths;
}

const std::vector<std::string>& DefaultReadonlyPaths() {
  static const auto* paths = new std::vector<std::string>{
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
  return *paths;
}

}  // namespace

std::vector<std::string> OwnEffectiveCapabilities() {
  std::ifstream status("/proc/self/status");
  uint64_t mask = 0;
  for (std::string line; std::getline(status, line);) {
    if (absl::StartsWith(line, "CapEff:"))
      mask = std::stoull(line.substr(7), nullptr, 16);
  }
  // AllCapabilities() is in the kernel's bit order.
  std::vector<std::string> held;
  const std::vector<std::string>& all = AllCapabilities();
  for (size_t bit = 0; bit < all.size() && bit < 64; ++bit) {
    if (mask & (uint64_t{1} << bit)) held.push_back(all[bit]);
  }
  return held;
}

namespace {

absl::StatusOr<std::string> CapabilityName(const std::string& name) {
  std::string upper = absl::AsciiStrToUpper(name);
  if (!absl::StartsWith(upper, "CAP_")) upper = "CAP_" + upper;
  const auto& all = AllCapabilities();
  if (std::find(all.begin(), all.end(), upper) == all.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown capability \"", name, "\""));
  }
  return upper;
}

absl::StatusOr<std::vector<std::string>> Capabilities(const Security& s) {
  const std::vector<std::string>& all =
      s.available_capabilities ? *s.available_capabilities : AllCapabilities();
  if (s.privileged) return all;
  std::vector<std::string> caps = DefaultCapabilities();
  auto is_all = [](const std::vector<std::string>& list) {
    return std::any_of(list.begin(), list.end(), [](const std::string& c) {
      return absl::AsciiStrToUpper(c) == "ALL";
    });
  };
  if (is_all(s.add_capabilities)) caps = all;
  for (const std::string& add : s.add_capabilities) {
    if (absl::AsciiStrToUpper(add) == "ALL") continue;
    absl::StatusOr<std::string> cap = CapabilityName(add);
    if (!cap.ok()) return cap.status();
    if (std::find(caps.begin(), caps.end(), *cap) == caps.end())
      caps.push_back(*cap);
  }
  if (is_all(s.drop_capabilities)) caps.clear();
  for (const std::string& drop : s.drop_capabilities) {
    if (absl::AsciiStrToUpper(drop) == "ALL") continue;
    absl::StatusOr<std::string> cap = CapabilityName(drop);
    if (!cap.ok()) return cap.status();
    caps.erase(std::remove(caps.begin(), caps.end(), *cap), caps.end());
  }
  return caps;
}

json Mount(const std::string& dest, const std::string& type,
           const std::string& source, std::vector<std::string> options) {
  return {{"destination", dest},
          {"type", type},
          {"source", source},
          {"options", options}};
}

bool HasEnv(const std::vector<std::string>& env, absl::string_view key) {
  std::string prefix = absl::StrCat(key, "=");
  return std::any_of(env.begin(), env.end(), [&](const std::string& e) {
    return absl::StartsWith(e, prefix);
  });
}

json ResourcesJson(const Resources& r) {
  json res = {{"devices", {{{"allow", false}, {"access", "rwm"}}}}};
  json cpu = json::object();
  if (r.cpu_shares > 0) cpu["shares"] = r.cpu_shares;
  if (r.cpu_quota != 0) cpu["quota"] = r.cpu_quota;
  if (r.cpu_period > 0) cpu["period"] = r.cpu_period;
  if (!r.cpuset_cpus.empty()) cpu["cpus"] = r.cpuset_cpus;
  if (!r.cpuset_mems.empty()) cpu["mems"] = r.cpuset_mems;
  if (!cpu.empty()) res["cpu"] = cpu;
  json memory = json::object();
  if (r.memory_limit > 0) memory["limit"] = r.memory_limit;
  if (r.memory_swap_limit > 0) memory["swap"] = r.memory_swap_limit;
  if (!memory.empty()) res["memory"] = memory;
  if (r.pids_limit > 0) res["pids"] = {{"limit", r.pids_limit}};
  if (!r.hugepages.empty()) {
    json pages = json::array();
    for (const HugepageLimit& h : r.hugepages) {
      pages.push_back({{"pageSize", h.page_size}, {"limit", h.limit}});
    }
    res["hugepageLimits"] = pages;
  }
  if (!r.unified.empty()) res["unified"] = r.unified;
  return res;
}

// linux.devices, and a device-cgroup rule for each block and char device
// after the default deny (a privileged container already allows all).
absl::Status AddDevices(const std::vector<Device>& devices, bool privileged,
                        json* linux) {
  if (devices.empty()) return absl::OkStatus();
  json nodes = json::array();
  for (const Device& d : devices) {
    if (d.path.empty() || d.path[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("device path \"", d.path, "\" is not absolute"));
    }
    if (d.type != 'c' && d.type != 'b' && d.type != 'u' && d.type != 'p') {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", d.path, ": type \"", std::string(1, d.type),
                       "\" is not one of c, b, u, p"));
    }
    if (d.permissions.empty() ||
        d.permissions.find_first_not_of("rwm") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", d.path, ": permissions \"", d.permissions,
                       "\" are not made of r, w and m"));
    }
    json node = {{"path", d.path},
                 {"type", std::string(1, d.type)},
                 {"major", d.major},
                 {"minor", d.minor}};
    if (d.file_mode) node["fileMode"] = *d.file_mode;
    if (d.uid) node["uid"] = *d.uid;
    if (d.gid) node["gid"] = *d.gid;
    nodes.push_back(node);
    if (privileged || d.type == 'p') continue;
    (*linux)["resources"]["devices"].push_back(
        {{"allow", true},
         {"type", d.type == 'b' ? "b" : "c"},
         {"major", d.major},
         {"minor", d.minor},
         {"access", d.permissions}});
  }
  (*linux)["devices"] = nodes;
  return absl::OkStatus();
}

absl::StatusOr<json> HooksJson(const Hooks& hooks) {
  json out = json::object();
  for (const auto& [point, list] : hooks) {
    if (HookPoints().count(point) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown hook point \"", point, "\""));
    }
    json entries = json::array();
    for (const Hook& h : list) {
      if (h.path.empty() || h.path[0] != '/') {
        return absl::InvalidArgumentError(
            absl::StrCat(point, " hook path \"", h.path, "\" is not absolute"));
      }
      json hook = {{"path", h.path}};
      if (!h.args.empty()) hook["args"] = h.args;
      if (!h.env.empty()) hook["env"] = h.env;
      if (h.timeout) {
        if (*h.timeout <= 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(point, " hook ", h.path, ": timeout must be > 0"));
        }
        hook["timeout"] = *h.timeout;
      }
      entries.push_back(hook);
    }
    if (!entries.empty()) out[point] = entries;
  }
  return out;
}

json IdMappingsJson(const std::vector<IdMapping>& mappings) {
  json out = json::array();
  for (const IdMapping& m : mappings) {
    out.push_back({{"containerID", m.container_id},
                   {"hostID", m.host_id},
                   {"size", m.size}});
  }
  return out;
}

}  // namespace

const std::set<std::string>& HookPoints() {
  static const auto* points = new std::set<std::string>{
      "prestart",       "createRuntime", "createContainer",
      "startContainer", "poststart",     "poststop"};
  return *points;
}

bool IsRestrictingMountFlag(const std::string& flag) {
  static const auto* flags = new std::set<std::string>{
      "nosuid",     "nodev",    "noexec",     "noatime",
      "nodiratime", "relatime", "strictatime"};
  return flags->count(flag) > 0;
}

const std::vector<std::string>& DefaultCapabilities() {
  static const auto* caps = new std::vector<std::string>{"CAP_CHOWN",
                                                         "CAP_DAC_OVERRIDE",
                                                         "CAP_FSETID",
                                                         "CAP_FOWNER",
                                                         "CAP_MKNOD",
                                                         "CAP_NET_RAW",
                                                         "CAP_SETGID",
                                                         "CAP_SETUID",
                                                         "CAP_SETFCAP",
                                                         "CAP_SETPCAP",
                                                         "CAP_NET_BIND_SERVICE",
                                                         "CAP_SYS_CHROOT",
                                                         "CAP_KILL",
                                                         "CAP_AUDIT_WRITE"};
  return *caps;
}

absl::StatusOr<std::string> BuildSpec(const ContainerSpecInput& in) {
  if (in.args.empty())
    return absl::InvalidArgumentError("no command to run (args are empty)");
  if (in.rootfs.empty() || in.rootfs[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("rootfs \"", in.rootfs, "\" is not absolute"));
  }
  const Security& sec = in.security;
  absl::StatusOr<std::vector<std::string>> caps = Capabilities(sec);
  if (!caps.ok()) return caps.status();

  std::vector<std::string> env = in.env;
  if (!HasEnv(env, "PATH")) env.push_back(absl::StrCat("PATH=", kDefaultPath));
  if (!in.hostname.empty() && !HasEnv(env, "HOSTNAME"))
    env.push_back("HOSTNAME=" + in.hostname);
  if (in.terminal && !HasEnv(env, "TERM")) env.push_back("TERM=xterm");
  if (!HasEnv(env, "HOME"))
    env.push_back("HOME=" + (in.user.home.empty() ? "/" : in.user.home));

  json process = {
      {"terminal", in.terminal},
      {"user", {{"uid", in.user.uid}, {"gid", in.user.gid}}},
      {"args", in.args},
      {"env", env},
      {"cwd", in.cwd.empty() ? "/" : in.cwd},
      {"capabilities",
       {{"bounding", *caps}, {"effective", *caps}, {"permitted", *caps}}},
      {"noNewPrivileges", sec.no_new_privs},
  };
  if (!in.user.additional_gids.empty()) {
    process["user"]["additionalGids"] = in.user.additional_gids;
  }
  json rlimits = json::array();
  if (in.rlimits.empty()) {
    // containerd's default; raising it past our own limit would need
    // CAP_SYS_RESOURCE.
    rlimits.push_back(
        {{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}});
  }
  for (const Rlimit& r : in.rlimits) {
    rlimits.push_back({{"type", r.type}, {"hard", r.hard}, {"soft", r.soft}});
  }
  process["rlimits"] = rlimits;
  if (in.oom_score_adj) process["oomScoreAdj"] = *in.oom_score_adj;

  // Standard mounts first; a CRI mount on the same destination replaces one.
  std::string sys_mode = sec.privileged ? "rw" : "ro";
  std::vector<json> mounts = {
      Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      Mount("/dev", "tmpfs", "tmpfs",
            {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      Mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
             "gid=5"}),
      Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", sys_mode}),
      Mount("/sys/fs/cgroup", "cgroup", "cgroup",
            {"nosuid", "noexec", "nodev", "relatime", sys_mode}),
  };
  if (in.shm_path.empty()) {
    mounts.push_back(
        Mount("/dev/shm", "tmpfs", "shm",
              {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}));
  } else {
    mounts.push_back(Mount("/dev/shm", "bind", in.shm_path, {"rbind", "rw"}));
  }
  std::string rootfs_propagation;
  std::vector<BindMount> binds = in.mounts;
  // Parents before children, as runc mounts them in order.
  std::stable_sort(
      binds.begin(), binds.end(), [](const BindMount& a, const BindMount& b) {
        return std::count(a.container_path.begin(), a.container_path.end(),
                          '/') < std::count(b.container_path.begin(),
                                            b.container_path.end(), '/');
      });
  for (const BindMount& b : binds) {
    if (b.container_path.empty() || b.container_path[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "mount destination \"", b.container_path, "\" is not absolute"));
    }
    std::string propagation;
    if (b.propagation == "private" || b.propagation.empty()) {
      propagation = "rprivate";
    } else if (b.propagation == "rslave") {
      propagation = "rslave";
      if (rootfs_propagation != "rshared") rootfs_propagation = "rslave";
    } else if (b.propagation == "rshared") {
      propagation = "rshared";
      rootfs_propagation = "rshared";
    } else {
      return absl::InvalidArgumentError(absl::StrCat("mount ", b.container_path,
                                                     ": unknown propagation \"",
                                                     b.propagation, "\""));
    }
    mounts.erase(std::remove_if(mounts.begin(), mounts.end(),
                                [&](const json& m) {
                                  return m["destination"] == b.container_path;
                                }),
                 mounts.end());
    std::vector<std::string> options = {"rbind", propagation,
                                        b.readonly ? "ro" : "rw"};
    for (const std::string& flag : b.flags) {
      if (!IsRestrictingMountFlag(flag)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "mount ", b.container_path, ": unsupported flag \"", flag, "\""));
      }
      options.push_back(flag);
    }
    mounts.push_back(Mount(b.container_path, "bind", b.host_path, options));
  }

  json namespaces = json::array();
  auto add_ns = [&](const char* type, const std::optional<std::string>& path) {
    if (!path) return;
    json ns = {{"type", type}};
    if (!path->empty()) ns["path"] = *path;
    namespaces.push_back(ns);
  };
  add_ns("user", in.namespaces.user);
  add_ns("pid", in.namespaces.pid);
  add_ns("network", in.namespaces.network);
  add_ns("ipc", in.namespaces.ipc);
  add_ns("uts", in.namespaces.uts);
  if (in.namespaces.new_mount) namespaces.push_back({{"type", "mount"}});
  if (in.namespaces.new_cgroup) namespaces.push_back({{"type", "cgroup"}});

  json linux = {
      {"namespaces", namespaces},
      {"resources", ResourcesJson(in.resources)},
  };
  if (sec.privileged)
    linux["resources"]["devices"] = {{{"allow", true}, {"access", "rwm"}}};
  if (absl::Status s = AddDevices(in.devices, sec.privileged, &linux); !s.ok())
    return s;
  if (in.namespaces.user) {
    if (in.namespaces.uid_mappings.empty() ||
        in.namespaces.gid_mappings.empty()) {
      return absl::InvalidArgumentError(
          "a user namespace needs both uid and gid mappings");
    }
    linux["uidMappings"] = IdMappingsJson(in.namespaces.uid_mappings);
    linux["gidMappings"] = IdMappingsJson(in.namespaces.gid_mappings);
  }
  if (!in.cgroups_path.empty()) linux["cgroupsPath"] = in.cgroups_path;
  if (!in.sysctls.empty()) linux["sysctl"] = in.sysctls;
  if (!rootfs_propagation.empty())
    linux["rootfsPropagation"] = rootfs_propagation;
  if (!sec.privileged) {
    linux["maskedPaths"] =
        sec.masked_paths ? *sec.masked_paths : DefaultMaskedPaths();
    linux["readonlyPaths"] =
        sec.readonly_paths ? *sec.readonly_paths : DefaultReadonlyPaths();
    if (sec.seccomp == SeccompMode::kRuntimeDefault) {
      linux["seccomp"] = RuntimeDefaultSeccomp(*caps);
    } else if (sec.seccomp == SeccompMode::kLocalhost) {
      json profile = json::parse(sec.seccomp_profile_json, nullptr,
                                 /*allow_exceptions=*/false);
      if (profile.is_discarded() || !profile.is_object()) {
        return absl::InvalidArgumentError(
            "the localhost seccomp profile is not a JSON object");
      }
      linux["seccomp"] = profile;
    }
  }

  json spec = {
      {"ociVersion", "1.0.2"},
      {"process", process},
      {"root", {{"path", in.rootfs}, {"readonly", sec.readonly_rootfs}}},
      {"mounts", mounts},
      {"linux", linux},
  };
  bool private_uts = in.namespaces.uts && in.namespaces.uts->empty();
  if (!in.hostname.empty() && private_uts) spec["hostname"] = in.hostname;
  if (!in.annotations.empty()) spec["annotations"] = in.annotations;
  if (!in.hooks.empty()) {
    absl::StatusOr<json> hooks = HooksJson(in.hooks);
    if (!hooks.ok()) return hooks.status();
    spec["hooks"] = *std::move(hooks);
  }
  return spec.dump();
}

}  // namespace cradle::spec
