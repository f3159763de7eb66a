#include "cri/runtime/runtime_handlers.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "lite/absl_status.h"

namespace cradle {

absl::StatusOr<std::unique_ptr<RuntimeHandlers>> RuntimeHandlers::Open(
    const std::vector<RuntimeHandlerConfig>& configs,
    const std::string& default_name, const std::string& log_dir,
    bool systemd_cgroup) {
  std::unique_ptr<RuntimeHandlers> all(new RuntimeHandlers());
  all->default_name_ = default_name;
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
  auto it = all->handlers_.find(default_name);
  if (it == all->handlers_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the default runtime handler \"", default_name,
                     "\" is not configured"));
  }
  // Without it the daemon could not clean up after any shim.
  if (!it->second.runc) {
    return absl::FailedPreconditionError(
        absl::StrCat("the default runtime handler \"", default_name,
                     "\" cannot be used: ", it->second.unusable));
  }
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
  auto it = handlers_.find(name);
  if (it == handlers_.end() || !it->second.runc) {
    it = handlers_.find(default_name_);
  }
  return it->second;
}

std::vector<const RuntimeHandler*> RuntimeHandlers::All() const {
  std::vector<const RuntimeHandler*> all;
  for (const auto& [name, h] : handlers_) all.push_back(&h);
  return all;
}

}  // namespace cradle
