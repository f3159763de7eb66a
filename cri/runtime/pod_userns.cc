#include "cri/runtime/pod_userns.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace cradle {
namespace {

using runtime::v1::NamespaceMode;

std::vector<IdRange> Ranges(
    const google::protobuf::RepeatedPtrField<runtime::v1::IDMapping>& maps) {
  std::vector<IdRange> out;
  for (const runtime::v1::IDMapping& m : maps)
    out.push_back({m.container_id(), m.host_id(), m.length()});
  return out;
}

bool Same(const std::vector<IdRange>& a, const std::vector<IdRange>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].inside != b[i].inside || a[i].host != b[i].host ||
        a[i].size != b[i].size) {
      return false;
    }
  }
  return true;
}

// nullopt for the host's; the maps of a POD mode otherwise.
absl::StatusOr<std::optional<UserNamespaceMaps>> Requested(
    const runtime::v1::NamespaceOption& ns) {
  if (!ns.has_userns_options()) return std::nullopt;
  const runtime::v1::UserNamespace& u = ns.userns_options();
  if (u.mode() == runtime::v1::NODE) return std::nullopt;
  if (u.mode() != runtime::v1::POD) {
    return absl::InvalidArgumentError(
        absl::StrCat("userns_options.mode ", NamespaceMode_Name(u.mode()),
                     " is not supported: a pod has its own user namespace "
                     "(POD) or the host's (NODE)"));
  }
  UserNamespaceMaps maps{Ranges(u.uids()), Ranges(u.gids())};
  if (absl::Status s = CheckMaps(maps); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("userns_options: ", s.message()));
  }
  return maps;
}

}  // namespace

absl::StatusOr<std::optional<UserNamespaceMaps>> PodUserNamespace(
    const runtime::v1::PodSandboxConfig& config) {
  const runtime::v1::NamespaceOption& ns =
      config.linux().security_context().namespace_options();
  absl::StatusOr<std::optional<UserNamespaceMaps>> maps = Requested(ns);
  if (!maps.ok() || !maps->has_value()) return maps;
  for (const auto& [mode, what] :
       {std::pair{ns.network(), "network"}, std::pair{ns.pid(), "pid"},
        std::pair{ns.ipc(), "ipc"}}) {
    if (mode == runtime::v1::NODE) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a pod with its own user namespace cannot use the host's ", what,
          " namespace"));
    }
  }
  return maps;
}

absl::Status CheckContainerUserNamespace(
    const runtime::v1::ContainerConfig& config,
    const std::optional<UserNamespaceMaps>& pod) {
  const runtime::v1::NamespaceOption& ns =
      config.linux().security_context().namespace_options();
  if (pod && ns.pid() == runtime::v1::NODE) {
    return absl::InvalidArgumentError(
        "a container of a pod with its own user namespace cannot use the "
        "host's pid namespace");
  }
  absl::StatusOr<std::optional<UserNamespaceMaps>> asked = Requested(ns);
  if (!asked.ok()) return asked.status();
  // No options: the container goes where its pod is.
  if (!config.linux()
           .security_context()
           .namespace_options()
           .has_userns_options()) {
    return absl::OkStatus();
  }
  bool same = asked->has_value() == pod.has_value() &&
              (!pod || (Same((*asked)->uids, pod->uids) &&
                        Same((*asked)->gids, pod->gids)));
  if (!same) {
    return absl::InvalidArgumentError(
        "userns_options differ from the pod's: a container runs in its "
        "pod's user namespace, with the pod's mappings");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> MountIdmapped(
    const runtime::v1::Mount& mount,
    const std::optional<UserNamespaceMaps>& pod) {
  if (mount.uidmappings().empty() && mount.gidmappings().empty()) return false;
  std::string what = absl::StrCat("mount of ", mount.container_path());
  if (!pod) {
    return absl::InvalidArgumentError(absl::StrCat(
        what,
        " has uid/gid mappings, but the pod has no user namespace to map "
        "through"));
  }
  if (!Same(Ranges(mount.uidmappings()), pod->uids) ||
      !Same(Ranges(mount.gidmappings()), pod->gids)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": its uid/gid mappings differ from the pod's user namespace"));
  }
  return true;
}

std::optional<std::pair<uint32_t, uint32_t>> PodRootOnHost(
    const UserNamespaceMaps& maps) {
  std::optional<uint32_t> uid = HostId(maps.uids, 0);
  std::optional<uint32_t> gid = HostId(maps.gids, 0);
  if (!uid || !gid) return std::nullopt;
  return std::make_pair(*uid, *gid);
}

absl::Status LetPodRootThrough(const std::string& dir,
                               const UserNamespaceMaps& maps) {
  std::optional<uint32_t> gid = HostId(maps.gids, 0);
  // Without a mapped root group, "others" is all that can let it through.
  mode_t mode = gid ? 0710 : 0711;
  if ((gid && chown(dir.c_str(), 0, *gid) != 0) ||
      chmod(dir.c_str(), mode) != 0) {
    return absl::InternalError(
        absl::StrCat("open ", dir, " to the pod's root: ", strerror(errno)));
  }
  return absl::OkStatus();
}

std::vector<spec::IdMapping> SpecMappings(const std::vector<IdRange>& ranges) {
  std::vector<spec::IdMapping> out;
  for (const IdRange& r : ranges) out.push_back({r.inside, r.host, r.size});
  return out;
}

}  // namespace cradle
