#include "images/garbage.h"

#include "absl/time/clock.h"
#include "glog/logging.h"
#include "metrics/metrics.h"

namespace cradle {
namespace {

// The snapshotter as the collector sees it.
class SnapshotsForGc : public SnapshotRemover {
 public:
  SnapshotsForGc(Snapshotter* snapshotter, std::string name)
      : snapshotter_(snapshotter), name_(std::move(name)) {}

  absl::Status Walk(
      absl::FunctionRef<absl::Status(const SnapshotEntry&)> fn) override {
    return snapshotter_->Walk([&](const SnapshotInfo& info) {
      return fn(SnapshotEntry{name_, info.name, info.parent, info.created_at});
    });
  }

  absl::Status Remove(const std::string& snapshotter,
                      const std::string& key) override {
    if (snapshotter != name_) return absl::OkStatus();
    absl::Status s = snapshotter_->Remove(key);
    return s.code() == absl::StatusCode::kNotFound ? absl::OkStatus() : s;
  }

 private:
  Snapshotter* snapshotter_;
  std::string name_;
};

// docs/metrics.md: runs by result, their duration, what they removed.
void RecordGc(const absl::StatusOr<GcReport>& report, absl::Duration took) {
  static metrics::Counter* const runs = metrics::Default().AddCounter(
      "cradle_gc_runs_total", "Garbage collections of content and snapshots.",
      {"result"});
  static metrics::Histogram* const seconds = metrics::Default().AddHistogram(
      "cradle_gc_duration_seconds", "Time one garbage collection took.", {},
      metrics::LatencyBuckets());
  static metrics::Counter* const removed = metrics::Default().AddCounter(
      "cradle_gc_removed_total",
      "Objects garbage collection removed, by kind (blob, snapshot).",
      {"kind"});
  runs->Inc({report.ok() ? "ok" : "error"});
  seconds->Observe({}, absl::ToDoubleSeconds(took));
  if (report.ok()) {
    removed->Inc({"blob"}, static_cast<double>(report->removed_blobs.size()));
    removed->Inc({"snapshot"},
                 static_cast<double>(report->removed_snapshots.size()));
  }
}

}  // namespace

absl::StatusOr<GcReport> ImageGarbageCollector::Collect() {
  absl::MutexLock lock(&mu_);
  SnapshotsForGc snapshots(snapshotter_, snapshotter_name_);
  GcOptions options;
  // Every writer of content and snapshots holds a lease (the puller does),
  // so nothing young needs sparing.
  options.min_age = absl::ZeroDuration();
  absl::Time start = absl::Now();
  absl::StatusOr<GcReport> report =
      CollectGarbage(*metadata_, *content_, &snapshots, options);
  RecordGc(report, absl::Now() - start);
  if (report.ok() &&
      (!report->removed_blobs.empty() || !report->removed_snapshots.empty() ||
       !report->aborted_ingests.empty())) {
    LOG(INFO) << "gc: removed " << report->removed_blobs.size() << " blobs, "
              << report->removed_snapshots.size() << " snapshots, aborted "
              << report->aborted_ingests.size() << " ingests";
  }
  return report;
}

}  // namespace cradle
