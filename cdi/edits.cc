#include "cdi/edits.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cdi/registry.h"
#include "glog/logging.h"

namespace cradle::cdi {
namespace {

void SetEnv(const std::string& entry, std::vector<std::string>* env) {
  std::string prefix = entry.substr(0, entry.find('=') + 1);  // "KEY="
  for (std::string& e : *env) {
    if (absl::StartsWith(e, prefix)) {
      e = entry;
      return;
    }
  }
  env->push_back(entry);
}

// A container path in one spelling, for "the same path" comparisons.
std::string Clean(const std::string& path) {
  std::string clean = std::filesystem::path(path).lexically_normal().string();
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  return clean;
}

// Fills type, major and minor from the host node when the spec leaves
// them out, as the CDI spec asks.
absl::StatusOr<spec::Device> ToDevice(const DeviceNode& node) {
  if (node.path.empty() || node.path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "CDI device node path \"", node.path, "\" is not absolute"));
  }
  std::string type = node.type == "u" ? "c" : node.type;
  spec::Device d;
  d.path = node.path;
  d.file_mode = node.file_mode;
  d.uid = node.uid;
  d.gid = node.gid;
  d.permissions = node.permissions.empty() ? "rwm" : node.permissions;
  bool complete = !type.empty() && (node.major.has_value() || type == "p");
  if (complete) {
    d.type = type[0];
    d.major = node.major.value_or(0);
    d.minor = node.minor.value_or(0);
    return d;
  }
  const std::string& host = node.host_path.empty() ? node.path : node.host_path;
  struct stat st;
  if (stat(host.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("CDI device node ", node.path, ": host device ", host,
                     ": ", strerror(errno)));
  }
  char host_type = S_ISCHR(st.st_mode)    ? 'c'
                   : S_ISBLK(st.st_mode)  ? 'b'
                   : S_ISFIFO(st.st_mode) ? 'p'
                                          : 0;
  if (host_type == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("CDI device node ", node.path, ": host path ", host,
                     " is not a device node"));
  }
  if (!type.empty() && type[0] != host_type) {
    return absl::FailedPreconditionError(
        absl::StrCat("CDI device node ", node.path, ": type \"", node.type,
                     "\" is given but host device ", host, " is of type \"",
                     std::string(1, host_type), "\""));
  }
  d.type = host_type;
  if (node.major.has_value()) {
    d.major = *node.major;
    d.minor = node.minor.value_or(0);
  } else if (host_type != 'p') {
    d.major = major(st.st_rdev);
    d.minor = minor(st.st_rdev);
  }
  return d;
}

absl::StatusOr<spec::BindMount> ToBindMount(const Mount& m) {
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CDI mount of ", m.host_path, " at ", m.container_path, ": ", why));
  };
  if (!m.type.empty() && m.type != "bind")
    return refuse(absl::StrCat("type \"", m.type,
                               "\" is not supported, only bind mounts"));
  if (m.container_path.empty() || m.container_path[0] != '/')
    return refuse("the container path is not absolute");
  spec::BindMount b;
  b.container_path = m.container_path;
  b.host_path = m.host_path;
  for (const std::string& o : m.options) {
    if (o == "ro" || o == "rro") {
      b.readonly = true;
      b.recursive_readonly = o == "rro";
    } else if (o == "rw" || o == "rrw") {
      b.readonly = false;
    } else if (o == "bind" || o == "rbind") {
      // Always a recursive bind here, as for the CRI's own mounts.
    } else if (o == "private" || o == "rprivate") {
      b.propagation = "private";
    } else if (o == "slave" || o == "rslave") {
      b.propagation = "rslave";
    } else if (o == "shared" || o == "rshared") {
      b.propagation = "rshared";
    } else if (spec::IsRestrictingMountFlag(o)) {
      if (std::find(b.flags.begin(), b.flags.end(), o) == b.flags.end())
        b.flags.push_back(o);
    } else {
      return refuse(absl::StrCat("option \"", o, "\" is not supported"));
    }
  }
  return b;
}

}  // namespace

absl::Status ApplyEdits(const ContainerEdits& edits,
                        spec::ContainerSpecInput* in,
                        absl::string_view log_id) {
  for (const std::string& e : edits.env) SetEnv(e, &in->env);

  for (const DeviceNode& node : edits.device_nodes) {
    absl::StatusOr<spec::Device> d = ToDevice(node);
    if (!d.ok()) return d.status();
    // Owned by the container's user unless the spec says otherwise, so a
    // non-root process can use what it was given.
    if (!d->uid && in->user.uid > 0) d->uid = in->user.uid;
    if (!d->gid && in->user.gid > 0) d->gid = in->user.gid;
    in->devices.erase(std::remove_if(in->devices.begin(), in->devices.end(),
                                     [&](const spec::Device& x) {
                                       return x.path == d->path;
                                     }),
                      in->devices.end());
    in->devices.push_back(*std::move(d));
  }

  for (const Mount& m : edits.mounts) {
    absl::StatusOr<spec::BindMount> b = ToBindMount(m);
    if (!b.ok()) return b.status();
    std::string dest = Clean(b->container_path);
    in->mounts.erase(std::remove_if(in->mounts.begin(), in->mounts.end(),
                                    [&](const spec::BindMount& x) {
                                      return Clean(x.container_path) == dest;
                                    }),
                     in->mounts.end());
    in->mounts.push_back(*std::move(b));
  }

  for (const Hook& h : edits.hooks) {
    in->hooks[h.hook_name].push_back({h.path, h.args, h.env, h.timeout});
  }

  std::vector<uint32_t>& gids = in->user.additional_gids;
  for (uint32_t gid : edits.additional_gids) {
    if (gid != 0 && std::find(gids.begin(), gids.end(), gid) == gids.end())
      gids.push_back(gid);
  }

  if (edits.has_intel_rdt)
    LOG(WARNING) << log_id << " cdi: intelRdt edits are not supported; ignored";
  if (edits.has_net_devices)
    LOG(WARNING) << log_id
                 << " cdi: netDevices edits are not supported; ignored";
  return absl::OkStatus();
}

absl::Status Inject(const std::vector<std::string>& spec_dirs,
                    const std::vector<std::string>& names,
                    spec::ContainerSpecInput* in, absl::string_view log_id) {
  if (names.empty()) return absl::OkStatus();
  Registry registry = Registry::Load(spec_dirs);
  absl::StatusOr<std::vector<ContainerEdits>> edits = registry.Resolve(names);
  if (!edits.ok()) return edits.status();
  spec::ContainerSpecInput edited = *in;
  for (const ContainerEdits& e : *edits) {
    if (absl::Status s = ApplyEdits(e, &edited, log_id); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("CDI devices ", absl::StrJoin(names, ", "),
                                 ": ", s.message()));
    }
  }
  *in = std::move(edited);
  return absl::OkStatus();
}

}  // namespace cradle::cdi
