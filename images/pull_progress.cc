#include "images/pull_progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"
#include "metrics/metrics.h"

namespace cradle {
namespace {

struct PullMetrics {
  metrics::Counter* bytes = metrics::Default().AddCounter(
      "cradle_image_pull_bytes_total",
      "Bytes of image blobs downloaded from registries.", {});
  metrics::Gauge* in_progress = metrics::Default().AddGauge(
      "cradle_image_pulls_in_progress", "Image pulls running now.", {});
  metrics::Gauge* progress_bytes = metrics::Default().AddGauge(
      "cradle_image_pull_progress_bytes",
      "Blob bytes of the pulls running now: stored so far (state=done) and "
      "in all (state=total).",
      {"state"});
  metrics::Counter* stalls = metrics::Default().AddCounter(
      "cradle_image_pull_stalls_total",
      "Pulls cancelled because their downloads moved no byte for "
      "image_pull_progress_timeout.",
      {});
};

PullMetrics& Metrics() {
  static PullMetrics* m = new PullMetrics();
  return *m;
}

std::string MiB(int64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

}  // namespace

PullProgress::PullProgress(std::string image, PullProgressOptions options)
    : image_(std::move(image)), options_(std::move(options)) {
  last_progress_ = options_.now();
  last_log_ = last_progress_;
  Metrics().in_progress->Add({}, 1);
}

PullProgress::~PullProgress() {
  absl::MutexLock lock(&mu_);
  Metrics().in_progress->Add({}, -1);
  Metrics().progress_bytes->Add({"done"}, -static_cast<double>(gauged_done_));
  Metrics().progress_bytes->Add({"total"},
                                -static_cast<double>(gauged_total_));
}

void PullProgress::Expect(const std::string& blob, int64_t size,
                          int64_t present) {
  absl::MutexLock lock(&mu_);
  Blob& b = blobs_[blob];
  // A blob restarted (the registry could not resume) counts from `present`.
  int64_t done = std::clamp<int64_t>(present, 0, std::max<int64_t>(size, 0));
  Metrics().progress_bytes->Add({"total"}, static_cast<double>(size - b.size));
  Metrics().progress_bytes->Add({"done"}, static_cast<double>(done - b.done));
  gauged_total_ += size - b.size;
  gauged_done_ += done - b.done;
  b.size = size;
  b.done = done;
  b.finished = false;
  // A download starting is progress: the time this pull spent waiting for
  // another pull's download of a shared blob must not count as a stall.
  last_progress_ = options_.now();
}

void PullProgress::Advance(const std::string& blob, int64_t bytes) {
  if (bytes <= 0) return;
  Metrics().bytes->Inc({}, static_cast<double>(bytes));
  absl::MutexLock lock(&mu_);
  blobs_[blob].done += bytes;
  gauged_done_ += bytes;
  Metrics().progress_bytes->Add({"done"}, static_cast<double>(bytes));
  last_progress_ = options_.now();
}

void PullProgress::Done(const std::string& blob) {
  absl::MutexLock lock(&mu_);
  Blob& b = blobs_[blob];
  if (b.done < b.size) {
    Metrics().progress_bytes->Add({"done"},
                                  static_cast<double>(b.size - b.done));
    gauged_done_ += b.size - b.done;
    b.done = b.size;
  }
  b.finished = true;
  last_progress_ = options_.now();
}

void PullProgress::Heartbeat() {
  absl::MutexLock lock(&mu_);
  last_progress_ = options_.now();
}

PullProgress::Totals PullProgress::TotalsLocked() const {
  Totals t;
  for (const auto& [digest, b] : blobs_) {
    t.bytes_done += b.done;
    t.bytes_total += b.size;
    t.blobs_done += b.finished ? 1 : 0;
    ++t.blobs_total;
  }
  return t;
}

PullProgress::Totals PullProgress::totals() const {
  absl::MutexLock lock(&mu_);
  return TotalsLocked();
}

std::string PullProgress::Describe() const {
  Totals t = TotalsLocked();
  std::string text = absl::StrCat(t.blobs_done, "/", t.blobs_total,
                                  " blobs, ", MiB(t.bytes_done), " of ",
                                  MiB(t.bytes_total));
  // Name the blobs still moving, so a stuck one can be told apart.
  for (const auto& [digest, b] : blobs_) {
    if (b.finished) continue;
    absl::StrAppend(&text, "; ", digest.substr(0, 19), " ", b.done, "/",
                    b.size);
  }
  return text;
}

absl::Status PullProgress::Check() {
  absl::MutexLock lock(&mu_);
  if (!stalled_.ok()) return stalled_;
  absl::Time now = options_.now();
  absl::Duration stalled = now - last_progress_;
  if (options_.stall_timeout > absl::ZeroDuration() &&
      stalled >= options_.stall_timeout) {
    Metrics().stalls->Inc();
    std::string where = Describe();
    LOG(WARNING) << "image=" << image_ << " pull cancelled: no progress for "
                 << absl::FormatDuration(stalled) << " (" << where << ")";
    stalled_ = absl::DeadlineExceededError(absl::StrCat(
        "pull of ", image_, " cancelled: no data received for ",
        absl::FormatDuration(options_.stall_timeout),
        " (images.image_pull_progress_timeout); stopped at ", where));
    return stalled_;
  }
  if (now - last_log_ >= options_.log_interval) {
    last_log_ = now;
    LOG(INFO) << "image=" << image_ << " pulling: " << Describe();
  }
  return absl::OkStatus();
}

}  // namespace cradle
