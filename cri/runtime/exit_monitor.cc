#include "cri/runtime/exit_monitor.h"

#include <algorithm>

#include "glog/logging.h"

namespace cradle {

ExitMonitor::~ExitMonitor() {
  std::vector<std::string> pods;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, w] : watchers_) pods.push_back(id);
  }
  for (const std::string& id : pods) Unwatch(id);
}

void ExitMonitor::Watch(const std::string& pod_id) {
  absl::MutexLock lock(&mu_);
  auto& slot = watchers_[pod_id];
  if (slot != nullptr) return;
  slot = std::make_unique<Watcher>();
  Watcher* w = slot.get();
  try {
    w->thread = std::thread([this, pod_id, w] { Run(pod_id, w); });
  } catch (const std::system_error& e) {
    // Status calls still ask the shim themselves: degraded, not broken.
    LOG(ERROR) << "pod=" << pod_id << " no exit monitor: " << e.what();
    watchers_.erase(pod_id);
  }
}

void ExitMonitor::Unwatch(const std::string& pod_id) {
  std::unique_ptr<Watcher> w;
  {
    absl::MutexLock lock(&mu_);
    auto it = watchers_.find(pod_id);
    if (it == watchers_.end()) return;
    it->second->stop = true;
    if (it->second->stream != nullptr) it->second->stream->Cancel();
    w = std::move(it->second);
    watchers_.erase(it);
  }
  if (w->thread.joinable()) w->thread.join();
}

bool ExitMonitor::Subscribed(const std::string& pod_id) {
  absl::MutexLock lock(&mu_);
  auto it = watchers_.find(pod_id);
  return it != watchers_.end() && it->second->subscribed;
}

void ExitMonitor::Run(const std::string& pod_id, Watcher* w) {
  absl::Duration backoff = absl::Milliseconds(100);
  auto stopped = [&] {
    absl::MutexLock lock(&mu_);
    return w->stop;
  };
  while (!stopped()) {
    absl::StatusOr<ShimRef> shim = shims_->Get(pod_id);
    absl::StatusOr<std::unique_ptr<ShimStream>> stream =
        shim.ok() ? (*shim)->Events()
                  : absl::StatusOr<std::unique_ptr<ShimStream>>(shim.status());
    if (stream.ok()) {
      {
        absl::MutexLock lock(&mu_);
        if (w->stop) break;
        w->stream = stream->get();
      }
      // Subscribed first, then synced: an exit in between is seen twice,
      // never missed, and applying an exit twice changes nothing. Until a
      // sync succeeds the store is not current: no subscription.
      bool synced = handlers_.on_sync(pod_id, shim->get());
      {
        absl::MutexLock lock(&mu_);
        w->subscribed = synced && !w->stop;
      }
      if (synced) backoff = absl::Milliseconds(100);
      ShimStream::Output out;
      while (synced && (*stream)->Read(&out)) {
        if (out.kind == ShimStream::Output::kEvent) {
          handlers_.on_exit(pod_id, out.event);
        }
      }
      absl::MutexLock lock(&mu_);
      w->subscribed = false;
      w->stream = nullptr;
      if (w->stop) break;
    }
    if (stopped()) break;
    if (shims_->Gone(pod_id)) {
      LOG(WARNING) << "pod=" << pod_id << " its shim died";
      handlers_.on_dead(pod_id);
      break;
    }
    VLOG(1) << "pod=" << pod_id << " shim events unavailable; retrying";
    // Woken early by Unwatch.
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&w->stop), backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace cradle
