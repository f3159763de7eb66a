// The shim of each pod: started with the pod, found again after a daemon
// restart through its socket, asked to exit when the pod is removed.
#ifndef CRADLE_CRI_RUNTIME_POD_SHIMS_H_
#define CRADLE_CRI_RUNTIME_POD_SHIMS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cri/runtime/runtime_handlers.h"
#include "shim/client/shim_client.h"

namespace cradle {

// Shared: a client stays valid for a caller that holds it even while the
// shim is forgotten (it died) by another thread.
using ShimRef = std::shared_ptr<ShimClient>;

// A call the shim did not answer (refused, or not in time), as opposed to
// an answer that refused the call.
inline bool ShimUnreachable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

class PodShims {
 public:
  // `base` carries the shim binary and cgroup driver; paths and the OCI
  // runtime come per pod.
  PodShims(ShimLaunchOptions base, std::string state_dir)
      : base_(std::move(base)), state_dir_(std::move(state_dir)) {}

  // `cgroup` is where the shim puts itself ("" to stay in cradled's);
  // the shim drives `runtime`'s binary on its root.
  absl::StatusOr<ShimRef> Start(const std::string& pod_id,
                                const std::string& pod_dir,
                                const std::string& cgroup,
                                const RuntimeHandler& runtime);
  // The pod's shim; Unavailable when it does not answer (connecting to a
  // shim not yet known happens outside the lock: a stopped shim must not
  // stall calls for other pods).
  absl::StatusOr<ShimRef> Get(const std::string& pod_id);
  // Asks the shim to exit (it refuses while it has containers), forgets
  // it and removes its cgroup. OK when it is already gone.
  absl::Status Stop(const std::string& pod_id, const std::string& cgroup);

  // Proof that the pod's shim died (see ShimClient::Gone).
  bool Gone(const std::string& pod_id) const;
  // Drops the client of a shim that died, and its socket file and cgroup.
  void Forget(const std::string& pod_id, const std::string& cgroup);

  // The pid of each shim this daemon holds a client for, by pod id; 0 for
  // one that did not tell it (yet). Asks a shim once, outside the lock, and
  // remembers the pid with its start time, so a reused pid is never taken
  // for the shim; one that does not answer is asked again only after a
  // minute (metrics read this at every scrape, and must not wait on it).
  std::map<std::string, int> ShimPids();

  // Short, because unix socket paths are limited to 108 bytes.
  std::string SocketPath(const std::string& pod_id) const;

 private:
  const ShimLaunchOptions base_;
  const std::string state_dir_;
  absl::Mutex mu_;
  std::map<std::string, ShimRef> shims_ ABSL_GUARDED_BY(mu_);
  struct KnownPid {
    int pid = 0;  // 0: not known; ask again after `ask_after`
    int64_t start_ticks = 0;
    absl::Time ask_after;
  };
  std::map<std::string, KnownPid> pids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_POD_SHIMS_H_
