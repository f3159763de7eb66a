// Listens to each pod's shim for container exits and hands them to the
// runtime at once, so the store learns an exit when it is recorded, not on
// the next status call.
//
// One thread per watched pod holds the shim's Events stream. After each
// (re)subscription it calls on_sync, which compares the store with the
// shim's own list: exits recorded while nobody listened (a daemon restart,
// a broken stream) are picked up there. When the stream ends and the shim
// is proven dead, on_dead runs once and the pod is no longer watched; a
// shim that is only slow is resubscribed with backoff.
#ifndef CRADLE_CRI_RUNTIME_EXIT_MONITOR_H_
#define CRADLE_CRI_RUNTIME_EXIT_MONITOR_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cri/runtime/pod_shims.h"

namespace cradle {

struct ExitMonitorHandlers {
  std::function<void(const std::string& pod_id, const shim::ExitEvent&)>
      on_exit;
  // False when the shim could not be read: the monitor resubscribes.
  std::function<bool(const std::string& pod_id, ShimClient* shim)> on_sync;
  std::function<void(const std::string& pod_id)> on_dead;
};

// Thread-safe. Handlers run on the pod's monitor thread and must not call
// Unwatch for the same pod.
class ExitMonitor {
 public:
  ExitMonitor(PodShims* shims, ExitMonitorHandlers handlers)
      : shims_(shims), handlers_(std::move(handlers)) {}
  ~ExitMonitor();
  ExitMonitor(const ExitMonitor&) = delete;
  ExitMonitor& operator=(const ExitMonitor&) = delete;

  // Starts watching the pod's shim; a pod already watched is left alone.
  void Watch(const std::string& pod_id);
  // Stops watching and waits for the pod's thread to end. Called before
  // the shim is asked to exit, so its going away is not taken for a death.
  void Unwatch(const std::string& pod_id);
  // Whether the pod's events stream is open now: the store is current.
  bool Subscribed(const std::string& pod_id);

 private:
  struct Watcher {
    bool stop = false;             // guarded by mu_
    bool subscribed = false;       // guarded by mu_
    ShimStream* stream = nullptr;  // the open stream; guarded by mu_
    std::thread thread;
  };
  void Run(const std::string& pod_id, Watcher* w);

  PodShims* const shims_;
  const ExitMonitorHandlers handlers_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Watcher>> watchers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_EXIT_MONITOR_H_
