#include "cri/runtime/pod_shims.h"

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "cgroups/membership.h"
#include "glog/logging.h"
#include "lite/absl_status.h"

namespace cradle {

std::string PodShims::SocketPath(const std::string& pod_id) const {
  return absl::StrCat(state_dir_, "/s/", pod_id.substr(0, 24));
}

absl::StatusOr<ShimClient*> PodShims::Start(const std::string& pod_id,
                                            const std::string& pod_dir,
                                            const std::string& cgroup) {
  ShimLaunchOptions o = base_;
  o.cgroup = cgroup;
  o.socket = SocketPath(pod_id);
  o.state_dir = pod_dir + "/shim";
  o.runc_root = state_dir_ + "/runc";
  o.log_file = pod_dir + "/shim.log";
  mkdir((state_dir_ + "/s").c_str(), 0700);
  absl::StatusOr<std::unique_ptr<ShimClient>> shim = ShimClient::Launch(o);
  if (!shim.ok()) return shim.status();
  absl::MutexLock lock(&mu_);
  ShimClient* raw = shim->get();
  shims_[pod_id] = std::move(*shim);
  return raw;
}

absl::StatusOr<ShimClient*> PodShims::Get(const std::string& pod_id) {
  absl::MutexLock lock(&mu_);
  auto it = shims_.find(pod_id);
  if (it != shims_.end()) return it->second.get();
  absl::StatusOr<std::unique_ptr<ShimClient>> shim =
      ShimClient::Connect(SocketPath(pod_id));
  if (!shim.ok()) return shim.status();
  LOG(INFO) << "pod=" << pod_id << " reconnected to its shim";
  ShimClient* raw = shim->get();
  shims_[pod_id] = std::move(*shim);
  return raw;
}

bool PodShims::Gone(const std::string& pod_id) const {
  return ShimClient::Gone(SocketPath(pod_id));
}

void PodShims::Forget(const std::string& pod_id, const std::string& cgroup) {
  {
    absl::MutexLock lock(&mu_);
    shims_.erase(pod_id);
  }
  unlink(SocketPath(pod_id).c_str());
  if (!cgroup.empty()) (void)RemoveCgroup(cgroup);
}

absl::Status PodShims::Stop(const std::string& pod_id,
                            const std::string& cgroup) {
  absl::StatusOr<ShimClient*> shim = Get(pod_id);
  if (shim.ok()) {
    if (absl::Status s = (*shim)->Shutdown(); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    shims_.erase(pod_id);
  }
  if (cgroup.empty()) return absl::OkStatus();
  // The shim leaves right after answering; its cgroup empties then.
  absl::Status removed;
  for (int i = 0; i < 100; ++i) {
    removed = lite::ToAbsl(RemoveCgroup(cgroup));
    if (removed.code() != absl::StatusCode::kFailedPrecondition) break;
    absl::SleepFor(absl::Milliseconds(30));
  }
  if (!removed.ok()) {
    LOG(WARNING) << "pod=" << pod_id
                 << " shim cgroup stays: " << removed.message();
  }
  return absl::OkStatus();
}

}  // namespace cradle
