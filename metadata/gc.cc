#include "metadata/gc.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "metadata/content_store.h"

namespace cradle {
namespace {

using SnapshotId = std::pair<std::string, std::string>;  // snapshotter, key

// cradle's label names and containerd's (which ctr writes) mean the same.
bool IsGcRoot(const Labels& labels) {
  return labels.count(kGcRootLabel) > 0 ||
         labels.count(kContainerdGcRootLabel) > 0;
}
bool StartsWithAny(absl::string_view key, absl::string_view a,
                   absl::string_view b, absl::string_view* rest) {
  for (absl::string_view prefix : {a, b}) {
    if (absl::StartsWith(key, prefix)) {
      *rest = key.substr(prefix.size());
      return true;
    }
  }
  return false;
}

// When the lease stops protecting: its own expiry or, earlier, the
// containerd.io/gc.expire label a containerd client gave it.
absl::Time LeaseExpiry(const LeaseRecord& lease) {
  absl::Time expiry = lease.expires_at;
  auto it = lease.labels.find(kContainerdGcExpireLabel);
  if (it == lease.labels.end()) return expiry;
  absl::Time labelled;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, it->second, &labelled, &err)) {
    LOG(WARNING) << "gc: lease " << lease.id << ": label "
                 << kContainerdGcExpireLabel << "=" << it->second
                 << " is not an RFC 3339 time: " << err;
    return expiry;
  }
  return std::min(expiry, labelled);
}

// Reachability within one namespace, feeding the global sets.
class Marker {
 public:
  // Records, leases and container roots name snapshots by the
  // snapshotter's own keys; labels (written by clients) by the namespace's
  // keys, mapped with BackendSnapshotKey as they are followed.
  Marker(std::string ns, std::map<Digest, ContentRecord> content,
         std::map<SnapshotId, SnapshotRecord> snapshots,
         std::set<Digest>* all_blobs, std::set<SnapshotId>* all_snapshots)
      : ns_(std::move(ns)),
        content_(std::move(content)),
        snapshots_(std::move(snapshots)),
        all_blobs_(all_blobs),
        all_snapshots_(all_snapshots) {}

  void Blob(const Digest& d) { blob_queue_.push_back(d); }
  void Snapshot(const std::string& snapshotter, const std::string& key) {
    snapshot_queue_.push_back({snapshotter, key});
  }
  void Follow(const Labels& labels) {
    for (const auto& [key, value] : labels) {
      absl::string_view rest;
      if (StartsWithAny(key, kGcRefContentPrefix, kContainerdGcRefContentPrefix,
                        &rest)) {
        absl::StatusOr<Digest> d = Digest::Parse(value);
        if (d.ok()) {
          Blob(*d);
        } else {
          LOG(WARNING) << "gc: label " << key << "=" << value
                       << " is not a digest";
        }
      } else if (StartsWithAny(key, kGcRefSnapshotPrefix,
                               kContainerdGcRefSnapshotPrefix, &rest)) {
        std::string snapshotter(rest.substr(0, rest.find_first_of("./")));
        if (!snapshotter.empty() && !value.empty())
          Snapshot(snapshotter, BackendSnapshotKey(ns_, value));
      }
    }
  }
  // Roots among the namespace's own content and snapshot records.
  void LabelledRoots() {
    for (const auto& [d, r] : content_)
      if (IsGcRoot(r.labels)) Blob(d);
    for (const auto& [id, r] : snapshots_)
      if (IsGcRoot(r.labels)) Snapshot(id.first, id.second);
  }
  void Run() {
    while (!blob_queue_.empty() || !snapshot_queue_.empty()) {
      if (!blob_queue_.empty()) {
        Digest d = blob_queue_.front();
        blob_queue_.pop_front();
        if (!blobs_.insert(d).second) continue;
        all_blobs_->insert(d);
        if (auto it = content_.find(d); it != content_.end())
          Follow(it->second.labels);
        continue;
      }
      SnapshotId id = snapshot_queue_.front();
      snapshot_queue_.pop_front();
      if (!snapshots_marked_.insert(id).second) continue;
      all_snapshots_->insert(id);
      if (auto it = snapshots_.find(id); it != snapshots_.end())
        Follow(it->second.labels);
    }
  }
  // Records nothing in this namespace reaches.
  MetadataBatch Unreached(absl::string_view ns) const {
    MetadataBatch batch;
    for (const auto& [d, r] : content_)
      if (blobs_.count(d) == 0)
        batch.Add(MetadataBatch::Action::kDeleteIfPresent, ns, r);
    for (const auto& [id, r] : snapshots_)
      if (snapshots_marked_.count(id) == 0)
        batch.Add(MetadataBatch::Action::kDeleteIfPresent, ns, r);
    return batch;
  }

 private:
  const std::string ns_;
  std::map<Digest, ContentRecord> content_;
  std::map<SnapshotId, SnapshotRecord> snapshots_;
  std::set<Digest>* all_blobs_;
  std::set<SnapshotId>* all_snapshots_;
  std::set<Digest> blobs_;
  std::set<SnapshotId> snapshots_marked_;
  std::deque<Digest> blob_queue_;
  std::deque<SnapshotId> snapshot_queue_;
};

absl::Status MarkNamespace(MetadataStore& md, const std::string& ns,
                           const GcOptions& options, GcReport& report,
                           std::set<Digest>* blobs,
                           std::set<SnapshotId>* snapshots,
                           std::set<std::string>* ingests,
                           std::vector<MetadataBatch>* sweeps) {
  // Leases first: a pull puts its image record before deleting its lease,
  // so reading in this order never misses both.
  absl::StatusOr<std::vector<LeaseRecord>> leases = md.ListLeases(ns);
  if (!leases.ok()) return leases.status();
  std::vector<LeaseRecord> live;
  for (LeaseRecord& lease : *leases) {
    if (LeaseExpiry(lease) > options.now) {
      live.push_back(std::move(lease));
      continue;
    }
    absl::Status s = md.DeleteLease(ns, lease.id);
    if (!s.ok() && s.code() != absl::StatusCode::kNotFound) return s;
    report.expired_leases.push_back(absl::StrCat(ns, "/", lease.id));
  }
  absl::StatusOr<std::vector<ImageRecord>> images = md.ListImages(ns);
  absl::StatusOr<std::vector<ContainerRecord>> containers =
      md.ListContainers(ns);
  absl::StatusOr<std::vector<SandboxRecord>> sandboxes = md.ListSandboxes(ns);
  absl::StatusOr<std::vector<ContentRecord>> content = md.ListContent(ns);
  absl::StatusOr<std::vector<SnapshotRecord>> snapshot_records =
      md.ListSnapshots(ns);
  for (const absl::Status& s :
       {images.status(), containers.status(), sandboxes.status(),
        content.status(), snapshot_records.status()}) {
    if (!s.ok()) return s;
  }
  std::map<Digest, ContentRecord> content_by_digest;
  for (ContentRecord& r : *content) content_by_digest[r.digest] = std::move(r);
  std::map<SnapshotId, SnapshotRecord> snapshot_by_id;
  for (SnapshotRecord& r : *snapshot_records)
    snapshot_by_id[{r.snapshotter, r.key}] = std::move(r);

  Marker mark(ns, std::move(content_by_digest), std::move(snapshot_by_id),
              blobs, snapshots);
  for (const LeaseRecord& lease : live) {
    for (const LeaseResource& r : lease.resources) {
      switch (r.type) {
        case LeaseResource::Type::kContent:
          if (absl::StatusOr<Digest> d = Digest::Parse(r.id); d.ok())
            mark.Blob(*d);
          break;
        case LeaseResource::Type::kSnapshot: {
          size_t slash = r.id.find('/');
          if (slash != std::string::npos)
            mark.Snapshot(r.id.substr(0, slash), r.id.substr(slash + 1));
          break;
        }
        case LeaseResource::Type::kIngest:
          ingests->insert(NamespacedIngestRef(ns, r.id));
          break;
      }
    }
  }
  for (const ImageRecord& image : *images) {
    mark.Blob(image.target.digest);
    mark.Follow(image.labels);
  }
  auto object = [&](const ObjectRecord& r) {
    if (!r.snapshotter.empty() && !r.snapshot_key.empty())
      mark.Snapshot(r.snapshotter, r.snapshot_key);
    mark.Follow(r.labels);
  };
  for (const ContainerRecord& r : *containers) object(r);
  for (const SandboxRecord& r : *sandboxes) object(r);
  mark.LabelledRoots();
  mark.Run();
  sweeps->push_back(mark.Unreached(ns));
  for (const MetadataBatch::Mutation& m : sweeps->back().mutations()) {
    if (auto* c = std::get_if<ContentRecord>(&m.record)) {
      report.removed_records.push_back(
          absl::StrCat(ns, ": content ", c->digest.ToString()));
    } else if (auto* s = std::get_if<SnapshotRecord>(&m.record)) {
      report.removed_records.push_back(
          absl::StrCat(ns, ": snapshot ", s->snapshotter, "/", s->key));
    }
  }
  return absl::OkStatus();
}

void SweepSnapshots(SnapshotRemover& remover,
                    const std::set<SnapshotId>& marked,
                    const GcOptions& options, GcReport& report) {
  std::map<SnapshotId, SnapshotEntry> all;
  absl::Status walked = remover.Walk([&](const SnapshotEntry& e) {
    all[{e.snapshotter, e.key}] = e;
    return absl::OkStatus();
  });
  if (!walked.ok()) {
    LOG(WARNING) << "gc: cannot list snapshots: " << walked;
    return;
  }
  // Kept: the marked, the young, and every parent of a kept one.
  std::set<SnapshotId> keep;
  std::deque<SnapshotId> queue;
  for (const auto& [id, e] : all) {
    if (marked.count(id) > 0 || e.created_at > options.now - options.min_age)
      queue.push_back(id);
  }
  while (!queue.empty()) {
    SnapshotId id = queue.front();
    queue.pop_front();
    if (!keep.insert(id).second) continue;
    auto it = all.find(id);
    if (it != all.end() && !it->second.parent.empty())
      queue.push_back({id.first, it->second.parent});
  }
  // Children before parents: deepest first.
  std::vector<std::pair<int, SnapshotId>> doomed;
  for (const auto& [id, e] : all) {
    if (keep.count(id) > 0) continue;
    int depth = 0;
    for (auto it = all.find(id);
         it != all.end() && !it->second.parent.empty() && depth <= 1000;
         it = all.find({id.first, it->second.parent})) {
      ++depth;
    }
    doomed.push_back({depth, id});
  }
  std::sort(doomed.begin(), doomed.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [depth, id] : doomed) {
    absl::Status s = remover.Remove(id.first, id.second);
    if (s.ok() || s.code() == absl::StatusCode::kNotFound) {
      report.removed_snapshots.push_back(
          absl::StrCat(id.first, "/", id.second));
    } else {
      LOG(WARNING) << "gc: remove snapshot=" << id.first << "/" << id.second
                   << ": " << s;
    }
  }
}

}  // namespace

absl::StatusOr<GcReport> CollectGarbage(MetadataStore& metadata,
                                        ContentStore& content,
                                        SnapshotRemover* snapshots,
                                        const GcOptions& options) {
  GcReport report;
  std::set<Digest> blobs;
  std::set<SnapshotId> snapshot_ids;
  std::set<std::string> ingests;
  std::vector<MetadataBatch> sweeps;
  absl::StatusOr<std::vector<std::string>> namespaces =
      metadata.ListNamespaces();
  if (!namespaces.ok()) return namespaces.status();
  for (const std::string& ns : *namespaces) {
    absl::Status s = MarkNamespace(metadata, ns, options, report, &blobs,
                                   &snapshot_ids, &ingests, &sweeps);
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("gc: mark namespace ", ns, ": ", s.message()));
    }
  }
  for (const MetadataBatch& batch : sweeps) {
    if (absl::Status s = metadata.Apply(batch); !s.ok()) {
      LOG(WARNING) << "gc: removing unreferenced records: " << s;
    }
  }
  std::vector<Digest> doomed;
  absl::Status walked = content.Walk([&](const ContentInfo& info) {
    if (blobs.count(info.digest) == 0 &&
        info.created_at <= options.now - options.min_age) {
      doomed.push_back(info.digest);
    }
    return absl::OkStatus();
  });
  if (!walked.ok()) LOG(WARNING) << "gc: cannot list content: " << walked;
  for (const Digest& d : doomed) {
    absl::Status s = content.Delete(d);
    if (s.ok() || s.code() == absl::StatusCode::kNotFound) {
      report.removed_blobs.push_back(d);
    } else {
      LOG(WARNING) << "gc: delete content " << d.ToString() << ": " << s;
    }
  }
  if (snapshots != nullptr)
    SweepSnapshots(*snapshots, snapshot_ids, options, report);
  absl::StatusOr<std::vector<IngestStatus>> open = content.ListIngests();
  if (open.ok()) {
    for (const IngestStatus& ingest : *open) {
      if (ingests.count(ingest.ref) > 0) continue;
      if (ingest.updated_at > options.now - options.ingest_max_age) continue;
      absl::Status s = content.Abort(ingest.ref);
      if (s.ok()) {
        report.aborted_ingests.push_back(ingest.ref);
      } else {
        LOG(WARNING) << "gc: abort ingest " << ingest.ref << ": " << s;
      }
    }
  } else {
    LOG(WARNING) << "gc: cannot list ingests: " << open.status();
  }
  LOG(INFO) << "gc: removed " << report.removed_blobs.size() << " blobs, "
            << report.removed_snapshots.size() << " snapshots, "
            << report.removed_records.size() << " records, "
            << report.expired_leases.size() << " expired leases, "
            << report.aborted_ingests.size() << " ingests";
  return report;
}

}  // namespace cradle
