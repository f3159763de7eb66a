#include "cri/runtime/container_spec.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cri/runtime/container_cdi.h"
#include "cri/runtime/cri_input.h"
#include "cri/runtime/pod_userns.h"
#include "nlohmann/json.hpp"
#include "openssl/sha.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;
using runtime::v1::NamespaceMode;

// CRI env overrides the image's by key; the image's order is kept.
std::vector<std::string> MergeEnv(const std::vector<std::string>& image,
                                  const runtime::v1::ContainerConfig& config) {
  std::vector<std::string> env = image;
  for (const runtime::v1::KeyValue& kv : config.envs()) {
    std::string entry = absl::StrCat(kv.key(), "=", kv.value());
    bool replaced = false;
    for (std::string& e : env) {
      if (absl::StartsWith(e, kv.key() + "=")) {
        e = entry;
        replaced = true;
      }
    }
    if (!replaced) env.push_back(entry);
  }
  return env;
}

// Kubernetes semantics: command replaces ENTRYPOINT (and drops CMD), args
// replace CMD.
std::vector<std::string> ProcessArgs(const runtime::v1::ContainerConfig& c,
                                     const oci::ImageConfig& image) {
  std::vector<std::string> args;
  if (!c.command().empty()) {
    args.assign(c.command().begin(), c.command().end());
  } else {
    args = image.entrypoint;
  }
  if (!c.args().empty()) {
    args.insert(args.end(), c.args().begin(), c.args().end());
  } else if (c.command().empty()) {
    args.insert(args.end(), image.cmd.begin(), image.cmd.end());
  }
  return args;
}

std::string VolumeDirName(const std::string& path) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(path.data()), path.size(), md);
  std::string hex;
  for (int i = 0; i < 8; ++i)
    absl::StrAppend(&hex, absl::Hex(md[i], absl::kZeroPad2));
  return hex;
}

absl::Status SetSeccomp(const runtime::v1::LinuxContainerSecurityContext& sc,
                        spec::Security* security) {
  std::string localhost;
  if (sc.has_seccomp()) {
    switch (sc.seccomp().profile_type()) {
      case runtime::v1::SecurityProfile::RuntimeDefault:
        security->seccomp = spec::SeccompMode::kRuntimeDefault;
        return absl::OkStatus();
      case runtime::v1::SecurityProfile::Unconfined:
        security->seccomp = spec::SeccompMode::kUnconfined;
        return absl::OkStatus();
      default:
        localhost = sc.seccomp().localhost_ref();
    }
  } else {
    const std::string& path = sc.seccomp_profile_path();
    if (path == "runtime/default" || path == "docker/default") {
      security->seccomp = spec::SeccompMode::kRuntimeDefault;
      return absl::OkStatus();
    }
    if (path.empty() || path == "unconfined") {
      security->seccomp = spec::SeccompMode::kUnconfined;
      return absl::OkStatus();
    }
    if (!absl::StartsWith(path, "localhost/")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seccomp_profile_path \"", path,
          "\" is not one of runtime/default, docker/default, unconfined or "
          "localhost/<absolute path>"));
    }
    localhost = path.substr(strlen("localhost/"));
  }
  absl::StatusOr<std::string> text = ReadSeccompProfile(localhost);
  if (!text.ok()) return text.status();
  security->seccomp = spec::SeccompMode::kLocalhost;
  security->seccomp_profile_json = *std::move(text);
  return absl::OkStatus();
}

spec::Resources ResourcesFrom(const runtime::v1::LinuxContainerResources& r) {
  spec::Resources out;
  out.cpu_period = r.cpu_period();
  out.cpu_quota = r.cpu_quota();
  out.cpu_shares = r.cpu_shares();
  out.cpuset_cpus = r.cpuset_cpus();
  out.cpuset_mems = r.cpuset_mems();
  out.memory_limit = r.memory_limit_in_bytes();
  out.memory_swap_limit = r.memory_swap_limit_in_bytes();
  for (const auto& h : r.hugepage_limits())
    out.hugepages.push_back({h.page_size(), h.limit()});
  out.unified.insert(r.unified().begin(), r.unified().end());
  return out;
}

}  // namespace

std::string CleanContainerPath(absl::string_view path) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();  // "/.." is "/"
      continue;
    }
    parts.push_back(part);
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

std::string CgroupfsPath(const std::string& cgroup_parent,
                         const std::string& name) {
  std::string parent = cgroup_parent.empty() ? "/cradle" : cgroup_parent;
  if (parent[0] != '/') parent = "/" + parent;
  return absl::StrCat(parent, "/", name);
}

absl::StatusOr<spec::ContainerSpecInput> ContainerSpecFor(
    const runtime::v1::ContainerConfig& config, const PodRecord& pod,
    const runtime::v1::PodSandboxConfig& pod_config,
    const oci::ImageConfig& image, const ContainerSpecContext& ctx) {
  spec::ContainerSpecInput in;
  in.args = ProcessArgs(config, image);
  if (in.args.empty()) {
    return absl::InvalidArgumentError(
        "the container has no command: neither the CRI config nor the image "
        "gives one");
  }
  in.env = MergeEnv(image.env, config);
  in.cwd = !config.working_dir().empty() ? config.working_dir()
           : !image.working_dir.empty()  ? image.working_dir
                                         : "/";
  in.terminal = config.tty();
  in.rootfs = ctx.rootfs;
  in.hostname = pod_config.hostname();
  const runtime::v1::LinuxContainerSecurityContext& sc =
      config.linux().security_context();

  // The user: CRI run_as_username / run_as_user(+group) beat the image's.
  std::string user = image.user;
  if (!sc.run_as_username().empty()) {
    user = sc.run_as_username();
  } else if (sc.has_run_as_user()) {
    user = std::to_string(sc.run_as_user().value());
  }
  if (sc.has_run_as_group() && !sc.has_run_as_user() &&
      sc.run_as_username().empty()) {
    return absl::InvalidArgumentError(
        "run_as_group needs run_as_user or run_as_username");
  }
  if (sc.has_run_as_group()) {
    std::string name = user.substr(0, user.find(':'));
    user =
        absl::StrCat(name.empty() ? "0" : name, ":", sc.run_as_group().value());
  }
  // Strict: only the ids asked for, none from the image's /etc/group.
  bool image_groups = sc.supplemental_groups_policy() !=
                      runtime::v1::SupplementalGroupsPolicy::Strict;
  absl::StatusOr<spec::User> resolved =
      spec::ResolveUser(ctx.rootfs, user, image_groups);
  if (!resolved.ok()) {
    return absl::Status(
        resolved.status().code(),
        absl::StrCat("user \"", user, "\": ", resolved.status().message()));
  }
  in.user = *resolved;
  for (int64_t g : sc.supplemental_groups()) {
    auto gid = static_cast<uint32_t>(g);
    if (std::find(in.user.additional_gids.begin(),
                  in.user.additional_gids.end(),
                  gid) == in.user.additional_gids.end()) {
      in.user.additional_gids.push_back(gid);
    }
  }

  absl::StatusOr<std::optional<UserNamespaceMaps>> userns =
      PodUserNamespace(pod_config);
  if (!userns.ok()) return userns.status();
  if (absl::Status s = CheckContainerUserNamespace(config, *userns); !s.ok())
    return s;
  // What cradle itself provides is seen through the pod's user namespace.
  bool idmap_own = !pod.userns_path.empty() && userns->has_value();

  // The pod's files, then the CRI mounts (which may replace them).
  bool host_network = pod.netns_path.empty();
  for (const char* file : {"hosts", "resolv.conf", "hostname"}) {
    std::string host_path = absl::StrCat(pod.pod_dir, "/", file);
    bool overridden = false;
    for (const auto& m : config.mounts()) {
      overridden |=
          CleanContainerPath(m.container_path()) == absl::StrCat("/etc/", file);
    }
    if (!overridden && fs::exists(host_path)) {
      in.mounts.push_back({absl::StrCat("/etc/", file), host_path, false});
      in.mounts.back().idmapped = idmap_own;
    }
  }
  for (int i = 0; i < config.mounts_size(); ++i) {
    const runtime::v1::Mount& m = config.mounts(i);
    if (m.container_path().empty() || m.container_path()[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat("mount container_path \"",
                                                     m.container_path(),
                                                     "\" must be absolute"));
    }
    if (!m.image().image().empty()) {
      auto source = ctx.image_volume_sources.find(i);
      if (source == ctx.image_volume_sources.end()) {
        return absl::InternalError(absl::StrCat(
            "mount of ", m.container_path(), ": the image's view is missing"));
      }
      // An image is never written through a volume, whatever was asked.
      in.mounts.push_back({m.container_path(), source->second, true});
      in.mounts.back().recursive_readonly = m.recursive_read_only();
      continue;
    }
    if (m.host_path().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("mount of ", m.container_path(), " has no host_path"));
    }
    std::error_code ec;
    if (!fs::exists(m.host_path(), ec)) {
      // As the kubelet and containerd do for a missing source: make it.
      fs::create_directories(m.host_path(), ec);
      // 0755 as containerd makes it, not cradled's private umask.
      if (!ec) fs::permissions(m.host_path(), fs::perms(0755), ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("mount source ", m.host_path(),
                         " cannot be created: ", ec.message()));
      }
    }
    spec::BindMount b{m.container_path(), m.host_path(), m.readonly()};
    b.propagation =
        m.propagation() == runtime::v1::PROPAGATION_HOST_TO_CONTAINER ? "rslave"
        : m.propagation() == runtime::v1::PROPAGATION_BIDIRECTIONAL ? "rshared"
                                                                    : "private";
    b.recursive_readonly = m.recursive_read_only();
    // The kubelet asks for an idmapped volume by giving it the pod's maps.
    absl::StatusOr<bool> idmapped = MountIdmapped(m, *userns);
    if (!idmapped.ok()) return idmapped.status();
    b.idmapped = *idmapped;
    in.mounts.push_back(b);
  }
  // Image VOLUMEs without a CRI mount get a directory of their own.
  // Compared cleaned: a VOLUME "/data/" must not hide a CRI mount at /data.
  for (const std::string& image_volume : image.volumes) {
    std::string volume = CleanContainerPath(image_volume);
    bool mounted = false;
    for (const auto& m : in.mounts)
      mounted |= CleanContainerPath(m.container_path) == volume;
    if (mounted) continue;
    std::string dir = absl::StrCat(ctx.volumes_dir, "/", VolumeDirName(volume));
    std::error_code ec;
    fs::create_directories(dir, ec);
    // Seen by the container as the volume itself: usable by its user.
    fs::permissions(dir, fs::perms(0755), ec);
    in.mounts.push_back({volume, dir, false});
    in.mounts.back().idmapped = idmap_own;
  }
  in.shm_path = pod.shm_path;

  // Namespaces: the pod's network, IPC and UTS; PID by the container's mode.
  const runtime::v1::NamespaceOption& ns = sc.namespace_options();
  if (!host_network) in.namespaces.network = pod.netns_path;
  if (!pod.userns_path.empty() && userns->has_value()) {
    in.namespaces.user = pod.userns_path;
    in.namespaces.uid_mappings = SpecMappings((*userns)->uids);
    in.namespaces.gid_mappings = SpecMappings((*userns)->gids);
  }
  if (!pod.ipcns_path.empty()) in.namespaces.ipc = pod.ipcns_path;
  if (!pod.utsns_path.empty()) in.namespaces.uts = pod.utsns_path;
  if (ns.pid() == runtime::v1::NODE) {
    // Host pid: not listed.
  } else if (ns.pid() == runtime::v1::POD && !ctx.pod_pidns_path.empty()) {
    in.namespaces.pid = ctx.pod_pidns_path;
  } else if (ns.pid() == runtime::v1::TARGET) {
    return absl::InvalidArgumentError(
        "pid namespace mode TARGET is not supported");
  } else {
    in.namespaces.pid = "";
  }

  // Security.
  spec::Security& security = in.security;
  security.privileged = sc.privileged();
  security.readonly_rootfs = sc.readonly_rootfs();
  security.no_new_privs = sc.no_new_privs();
  security.add_capabilities.assign(sc.capabilities().add_capabilities().begin(),
                                   sc.capabilities().add_capabilities().end());
  security.drop_capabilities.assign(
      sc.capabilities().drop_capabilities().begin(),
      sc.capabilities().drop_capabilities().end());
  if (!ctx.daemon_capabilities.empty())
    security.available_capabilities = ctx.daemon_capabilities;
  if (!sc.masked_paths().empty() || !sc.readonly_paths().empty()) {
    security.masked_paths = std::vector<std::string>(sc.masked_paths().begin(),
                                                     sc.masked_paths().end());
    security.readonly_paths = std::vector<std::string>(
        sc.readonly_paths().begin(), sc.readonly_paths().end());
  }
  if (absl::Status s = SetSeccomp(sc, &security); !s.ok()) return s;
  if (security.privileged) security.seccomp = spec::SeccompMode::kUnconfined;

  // Resources and cgroups.
  const runtime::v1::LinuxContainerResources& res = config.linux().resources();
  in.resources = ResourcesFrom(res);
  if (res.oom_score_adj() != 0) {
    in.oom_score_adj =
        std::max<int>(res.oom_score_adj(), ctx.min_oom_score_adj);
  }
  if (ctx.systemd_cgroup) {
    std::string slice =
        ctx.cgroup_parent.empty() ? "system.slice" : ctx.cgroup_parent;
    in.cgroups_path = absl::StrCat(slice, ":cradle:", ctx.container_id);
  } else {
    in.cgroups_path = CgroupfsPath(ctx.cgroup_parent, ctx.container_id);
  }
  const auto& sysctls = pod_config.linux().sysctls();
  in.sysctls.insert(sysctls.begin(), sysctls.end());
  in.annotations.insert(config.annotations().begin(),
                        config.annotations().end());
  if (absl::Status s =
          ApplyCdiDevices(config, ctx.cdi_spec_dirs, ctx.container_id, &in);
      !s.ok()) {
    return s;
  }
  return in;
}

std::string ResourcesJson(const runtime::v1::LinuxContainerResources& r) {
  nlohmann::json j = nlohmann::json::object();
  nlohmann::json cpu = nlohmann::json::object();
  if (r.cpu_shares() > 0) cpu["shares"] = r.cpu_shares();
  if (r.cpu_quota() != 0) cpu["quota"] = r.cpu_quota();
  if (r.cpu_period() > 0) cpu["period"] = r.cpu_period();
  if (!r.cpuset_cpus().empty()) cpu["cpus"] = r.cpuset_cpus();
  if (!r.cpuset_mems().empty()) cpu["mems"] = r.cpuset_mems();
  if (!cpu.empty()) j["cpu"] = cpu;
  if (r.memory_limit_in_bytes() > 0) {
    j["memory"]["limit"] = r.memory_limit_in_bytes();
    if (r.memory_swap_limit_in_bytes() > 0)
      j["memory"]["swap"] = r.memory_swap_limit_in_bytes();
  }
  if (!r.unified().empty()) {
    j["unified"] = std::map<std::string, std::string>(r.unified().begin(),
                                                      r.unified().end());
  }
  return j.dump();
}

}  // namespace cradle
