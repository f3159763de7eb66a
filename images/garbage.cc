#include "images/garbage.h"

#include "glog/logging.h"

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

}  // namespace

absl::StatusOr<GcReport> ImageGarbageCollector::Collect() {
  absl::MutexLock lock(&mu_);
  SnapshotsForGc snapshots(snapshotter_, snapshotter_name_);
  GcOptions options;
  // Every writer of content and snapshots holds a lease (the puller does),
  // so nothing young needs sparing.
  options.min_age = absl::ZeroDuration();
  absl::StatusOr<GcReport> report =
      CollectGarbage(*metadata_, *content_, &snapshots, options);
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
