// One pull's download progress: bytes per blob, logged at a bounded rate and
// exported as metrics, and the stall check that cancels a pull whose
// downloads have moved no byte for `image_pull_progress_timeout` (as
// containerd's CRI does: a stalled registry must not hang a pull forever).
#ifndef CRADLE_IMAGES_PULL_PROGRESS_H_
#define CRADLE_IMAGES_PULL_PROGRESS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cradle {

struct PullProgressOptions {
  // No byte for this long: Check() fails. Zero: never.
  absl::Duration stall_timeout = absl::Minutes(5);
  // At most one progress line per pull per this interval.
  absl::Duration log_interval = absl::Seconds(10);
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

// Thread-safe: the pull's download threads report into one tracker. While it
// lives it counts in the in-progress gauges.
class PullProgress {
 public:
  PullProgress(std::string image, PullProgressOptions options);
  ~PullProgress();
  PullProgress(const PullProgress&) = delete;
  PullProgress& operator=(const PullProgress&) = delete;

  // A blob (named by its digest) of `size` bytes, `present` of them stored.
  void Expect(const std::string& blob, int64_t size, int64_t present);
  // `bytes` of `blob` arrived.
  void Advance(const std::string& blob, int64_t bytes);
  // `blob` is stored whole (downloaded, or found in the store).
  void Done(const std::string& blob);
  // Bytes arrived that are not stored (a registry resending what the pull
  // already has): the pull moves, its totals do not.
  void Heartbeat();

  // Called by each download about once a second. DeadlineExceeded once no
  // byte has arrived for the stall timeout, naming the image, the config
  // key and how far the pull got; logs progress at most once per interval.
  absl::Status Check();

  struct Totals {
    int64_t bytes_done = 0;
    int64_t bytes_total = 0;
    int blobs_done = 0;
    int blobs_total = 0;
  };
  Totals totals() const;

 private:
  struct Blob {
    int64_t size = 0;
    int64_t done = 0;
    bool finished = false;
  };
  Totals TotalsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string Describe() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string image_;
  const PullProgressOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, Blob> blobs_ ABSL_GUARDED_BY(mu_);
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_);
  absl::Time last_log_ ABSL_GUARDED_BY(mu_);
  // Once stalled, every download's next Check() fails with this.
  absl::Status stalled_ ABSL_GUARDED_BY(mu_);
  // What this pull added to the in-progress gauges, taken back at the end.
  int64_t gauged_done_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t gauged_total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cradle

#endif  // CRADLE_IMAGES_PULL_PROGRESS_H_
