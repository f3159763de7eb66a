#include "cri/runtime/pod_shims.h"

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "cgroups/membership.h"
#include "glog/logging.h"
#include "lite/absl_status.h"
#include "metrics/process.h"

namespace cradle {

std::string PodShims::SocketPath(const std::string& pod_id) const {
  return absl::StrCat(state_dir_, "/s/", pod_id.substr(0, 24));
}

absl::StatusOr<ShimRef> PodShims::Start(const std::string& pod_id,
                                        const std::string& pod_dir,
                                        const std::string& cgroup,
                                        const RuntimeHandler& runtime) {
  ShimLaunchOptions o = base_;
  o.cgroup = cgroup;
  o.socket = SocketPath(pod_id);
  o.state_dir = pod_dir + "/shim";
  o.runc_binary = runtime.binary;
  o.runc_root = runtime.root;
  o.log_file = pod_dir + "/shim.log";
  mkdir((state_dir_ + "/s").c_str(), 0700);
  absl::StatusOr<std::unique_ptr<ShimClient>> shim = ShimClient::Launch(o);
  if (!shim.ok()) return shim.status();
  ShimRef ref = std::move(*shim);
  absl::MutexLock lock(&mu_);
  shims_[pod_id] = ref;
  pids_.erase(pod_id);  // a new shim for the pod
  return ref;
}

absl::StatusOr<ShimRef> PodShims::Get(const std::string& pod_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = shims_.find(pod_id);
    if (it != shims_.end()) return it->second;
  }
  absl::StatusOr<std::unique_ptr<ShimClient>> shim =
      ShimClient::Connect(SocketPath(pod_id));
  if (!shim.ok()) return shim.status();
  absl::MutexLock lock(&mu_);
  auto [it, fresh] = shims_.emplace(pod_id, std::move(*shim));
  if (fresh) LOG(INFO) << "pod=" << pod_id << " reconnected to its shim";
  return it->second;
}

std::map<std::string, int> PodShims::ShimPids() {
  constexpr absl::Duration kAskAgain = absl::Minutes(1);
  std::map<std::string, ShimRef> held;
  std::map<std::string, KnownPid> known;
  {
    absl::MutexLock lock(&mu_);
    held = shims_;
    known = pids_;
  }
  absl::Time now = absl::Now();
  std::map<std::string, int> out;
  for (const auto& [pod_id, shim] : held) {
    out[pod_id] = 0;
    KnownPid k;
    if (auto it = known.find(pod_id); it != known.end()) k = it->second;
    if (k.pid > 0) {
      absl::StatusOr<int64_t> ticks = metrics::ReadStartTicks(k.pid);
      if (ticks.ok() && *ticks == k.start_ticks) {
        out[pod_id] = k.pid;
        continue;
      }
      // The shim died (its pid may already be another process's).
      k = KnownPid{0, 0, now + kAskAgain};
    } else if (now < k.ask_after) {
      continue;
    } else {
      absl::StatusOr<int> pid = shim->ShimPid();
      absl::StatusOr<int64_t> ticks =
          pid.ok() ? metrics::ReadStartTicks(*pid) : pid.status();
      k = ticks.ok() ? KnownPid{*pid, *ticks, now}
                     : KnownPid{0, 0, now + kAskAgain};
      out[pod_id] = k.pid;
    }
    absl::MutexLock lock(&mu_);
    // Only while the same client is still held: the shim may have been
    // forgotten (and another started) meanwhile.
    auto it = shims_.find(pod_id);
    if (it != shims_.end() && it->second == shim) pids_[pod_id] = k;
  }
  return out;
}

bool PodShims::Gone(const std::string& pod_id) const {
  return ShimClient::Gone(SocketPath(pod_id));
}

void PodShims::Forget(const std::string& pod_id, const std::string& cgroup) {
  {
    absl::MutexLock lock(&mu_);
    shims_.erase(pod_id);
    pids_.erase(pod_id);
  }
  unlink(SocketPath(pod_id).c_str());
  if (!cgroup.empty()) (void)RemoveCgroup(cgroup);
}

absl::Status PodShims::Stop(const std::string& pod_id,
                            const std::string& cgroup) {
  absl::StatusOr<ShimRef> shim = Get(pod_id);
  if (shim.ok()) {
    absl::Status s = (*shim)->Shutdown();
    // A cached client of a shim that died since is no refusal.
    if (!s.ok() && !Gone(pod_id)) return s;
    absl::MutexLock lock(&mu_);
    shims_.erase(pod_id);
    pids_.erase(pod_id);
  } else if (!Gone(pod_id)) {
    // Alive but not answering: removing the pod now would orphan it.
    return absl::UnavailableError(
        absl::StrCat("the pod's shim does not answer; try again: ",
                     shim.status().message()));
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
