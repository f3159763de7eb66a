// The runtime's "the client went away" callback (CommandIo::OnClientGone):
// it runs at most once, at once if the client had already gone, and never
// after the command returned, when it may point into a finished call.
#ifndef CRADLE_STREAMING_GONE_CALLBACK_H_
#define CRADLE_STREAMING_GONE_CALLBACK_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cradle::streaming {

class GoneCallback {
 public:
  // CommandIo::OnClientGone.
  void Set(std::function<void()> callback) {
    absl::MutexLock call_lock(&call_mu_);
    {
      absl::MutexLock lock(&mu_);
      if (!gone_) {
        callback_ = std::move(callback);
        return;
      }
    }
    if (callback) callback();
  }

  // The client's connection ended.
  void ClientGone() {
    absl::MutexLock call_lock(&call_mu_);
    std::function<void()> callback;
    {
      absl::MutexLock lock(&mu_);
      gone_ = true;
      callback = std::move(callback_);
      callback_ = nullptr;
    }
    if (callback) callback();
  }

  // The command returned.
  void CommandDone() {
    absl::MutexLock call_lock(&call_mu_);
    absl::MutexLock lock(&mu_);
    callback_ = nullptr;
  }

 private:
  // Held while the callback runs or is replaced.
  absl::Mutex call_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  bool gone_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> callback_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_GONE_CALLBACK_H_
