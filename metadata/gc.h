// Garbage collection: mark from the metadata roots, sweep what nothing
// reaches. Roots, per namespace:
//   - live leases: the content, snapshots and ingests they hold;
//   - images: their target blob;
//   - containers and sandboxes: their snapshot;
//   - content and snapshot records labelled kGcRootLabel;
//   - labels kGcRefContentPrefix* / kGcRefSnapshotPrefix* on any of those
//     records (and on the content and snapshot records reached) are followed;
//   - a kept snapshot keeps its parents.
// containerd's names for these labels (containerd.io/gc.root, .gc.ref.*,
// and a lease's containerd.io/gc.expire) count the same (metadata.h).
// Snapshot records, lease resources and container roots hold the
// snapshotter's keys; a label's value is the namespace's own key, mapped
// with BackendSnapshotKey.
// Swept: expired leases; content and snapshot records nothing reaches; blobs
// and snapshots no namespace reaches (younger than min_age are spared: see
// GcOptions); ingests not held by a live lease and idle for ingest_max_age.
//
// A pull is safe when it creates a lease first and records in it what it
// is about to write (the namespaced content store does that for blobs; the
// puller does it for the snapshots it prepares), puts the image record, and
// only then deletes the lease.
#ifndef CRADLE_METADATA_GC_H_
#define CRADLE_METADATA_GC_H_

#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "content/content.h"
#include "metadata/metadata.h"

namespace cradle {

struct SnapshotEntry {
  std::string snapshotter;
  std::string key;
  std::string parent;  // key of the parent in the same snapshotter, or ""
  absl::Time created_at;
};

// What the collector needs of the snapshotters, so metadata does not depend
// on snapshots/. Implementations must be thread-safe.
class SnapshotRemover {
 public:
  SnapshotRemover() = default;
  SnapshotRemover(const SnapshotRemover&) = delete;
  SnapshotRemover& operator=(const SnapshotRemover&) = delete;
  virtual ~SnapshotRemover() = default;

  virtual absl::Status Walk(
      absl::FunctionRef<absl::Status(const SnapshotEntry&)> fn) = 0;
  // Called children first. NotFound is treated as already removed.
  virtual absl::Status Remove(const std::string& snapshotter,
                              const std::string& key) = 0;
};

struct GcOptions {
  absl::Time now = absl::Now();
  // Blobs and snapshots younger than this are kept even when unreferenced:
  // a writer not using a lease gets this long to record what it made.
  absl::Duration min_age = absl::Minutes(5);
  // Ingests without a lease idle for longer than this are aborted.
  absl::Duration ingest_max_age = absl::Hours(24);
};

struct GcReport {
  std::vector<std::string> expired_leases;   // "<ns>/<id>"
  std::vector<std::string> removed_records;  // "<ns>: content sha256:..."
  std::vector<Digest> removed_blobs;
  std::vector<std::string> removed_snapshots;  // "<snapshotter>/<key>"
  std::vector<std::string> aborted_ingests;    // backend refs
};

// One collection. Not to be run concurrently with itself. `snapshots` may
// be null (no snapshot sweep). Errors removing one object are logged and
// the sweep goes on; errors reading the metadata stop it before anything is
// removed from the stores.
absl::StatusOr<GcReport> CollectGarbage(MetadataStore& metadata,
                                        ContentStore& content,
                                        SnapshotRemover* snapshots,
                                        const GcOptions& options);

}  // namespace cradle

#endif  // CRADLE_METADATA_GC_H_
