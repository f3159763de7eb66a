#include "cri/runtime/runtime_handlers.h"

#include <linux/magic.h>
#include <sys/vfs.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "lite/absl_status.h"
#include "lite/files.h"

namespace cradle {
namespace {

// crun 1.8 refuses every pod on a hybrid cgroup host (v1 controllers under
// a tmpfs /sys/fs/cgroup, v2 at "unified") whose v2 hierarchy still holds a
// controller (tools/setup.sh moves such controllers to v1). Why crun should
// not be picked as the default here, or "" when it may.
std::string CrunRefusesThisHost(const RuntimeHandler& h) {
  if (!absl::StartsWith(h.version, "crun")) return "";
  struct statfs fs;
  if (statfs("/sys/fs/cgroup", &fs) != 0 ||
      static_cast<unsigned long>(fs.f_type) != TMPFS_MAGIC) {
    return "";
  }
  std::string held = std::string(absl::StripAsciiWhitespace(
      lite::ReadFileOrEmpty("/sys/fs/cgroup/unified/cgroup.controllers")));
  if (held.empty()) return "";
  return absl::StrCat(
      "crun refuses pods on this hybrid cgroup host while the v2 hierarchy "
      "holds controllers (",
      held, "); tools/setup.sh mounts them as v1");
}

}  // namespace

absl::StatusOr<std::unique_ptr<RuntimeHandlers>> RuntimeHandlers::Open(
    const std::vector<RuntimeHandlerConfig>& configs,
    const std::vector<std::string>& default_names, const std::string& log_dir,
    bool systemd_cgroup) {
  std::unique_ptr<RuntimeHandlers> all(new RuntimeHandlers());
  for (const RuntimeHandlerConfig& config : configs) {
    RuntimeHandler h;
    h.name = config.name;
    h.root = config.root;
    lite::StatusOr<std::unique_ptr<Runc>> runc =
        Runc::New({config.binary, config.root, log_dir, systemd_cgroup,
                   std::chrono::seconds(30)});
    if (runc.ok()) {
      h.runc = *std::move(runc);
      h.binary = h.runc->binary();
      lite::StatusOr<std::string> version = h.runc->Version();
      if (version.ok()) h.version = *version;
      LOG(INFO) << "runtime handler " << h.name << ": " << h.binary << " ("
                << h.version << "), root " << h.root;
    } else {
      h.unusable = std::string(runc.status().message());
      LOG(WARNING) << "runtime handler " << h.name
                   << " is unusable: " << h.unusable;
    }
    all->handlers_[h.name] = std::move(h);
  }
  // The first usable one named; every one must be configured.
  std::vector<std::string> why;
  for (const std::string& name : default_names) {
    auto it = all->handlers_.find(name);
    if (it == all->handlers_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the default runtime handler \"", name, "\" is not configured"));
    }
    if (!it->second.runc) {
      why.push_back(absl::StrCat(name, ": ", it->second.unusable));
    } else if (std::string refused = CrunRefusesThisHost(it->second);
               !refused.empty()) {
      // Still available by name: a pod asking for it gets crun's own error.
      why.push_back(absl::StrCat(name, ": ", refused));
      LOG(WARNING) << "runtime handler " << name
                   << " passed over as the default: " << refused;
    } else if (all->default_name_.empty()) {
      all->default_name_ = name;
    }
  }
  // Without one the daemon could not clean up after any shim.
  if (all->default_name_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no default runtime handler can be used (",
                     absl::StrJoin(why, "; "), ")"));
  }
  LOG(INFO) << "default runtime handler: " << all->default_name_;
  return all;
}

absl::StatusOr<const RuntimeHandler*> RuntimeHandlers::Find(
    absl::string_view name) const {
  if (name.empty()) name = default_name_;
  auto it = handlers_.find(name);
  if (it == handlers_.end()) {
    std::vector<std::string> names;
    for (const auto& [n, h] : handlers_) names.push_back(n);
    return absl::NotFoundError(absl::StrCat(
        "no runtime handler \"", name, "\" is configured (configured: ",
        absl::StrJoin(names, ", "), "; see [runtime.handlers] in the config)"));
  }
  if (!it->second.runc) {
    return absl::FailedPreconditionError(
        absl::StrCat("runtime handler \"", name,
                     "\" cannot be used: ", it->second.unusable));
  }
  return &it->second;
}

const RuntimeHandler& RuntimeHandlers::ForRecord(absl::string_view name) const {
  // Records from before handlers name none: those pods ran under runc, on
  // runc's root, whatever the default is now.
  if (name.empty()) name = "runc";
  auto it = handlers_.find(name);
  if (it == handlers_.end() || !it->second.runc) {
    it = handlers_.find(default_name_);
  }
  return it->second;
}

const RuntimeHandler& RuntimeHandlers::Default() const {
  return handlers_.find(default_name_)->second;
}

std::vector<const RuntimeHandler*> RuntimeHandlers::All() const {
  std::vector<const RuntimeHandler*> all;
  for (const auto& [name, h] : handlers_) all.push_back(&h);
  return all;
}

}  // namespace cradle
