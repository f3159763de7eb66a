// Snapshotters: layered filesystem trees, containerd's model.
//
// Words: a *key* names an active snapshot or a view (writable or read-only
// work in progress); a *name* names a committed snapshot (immutable, can be
// a parent). A snapshot's *parent* is a committed snapshot it starts from.
//
// Life of an image layer:   Prepare(key, parent) -> apply the layer into it
//                           -> Commit(chain id, key)
// Life of a container root: Prepare(key, image's top chain id) -> mount the
//                           returned mounts -> run -> Remove(key)
//
// A snapshotter only describes mounts; it never mounts anything itself.
// Implementations are thread-safe.
#ifndef CRADLE_SNAPSHOTS_SNAPSHOTTER_H_
#define CRADLE_SNAPSHOTS_SNAPSHOTTER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "mount/mount.h"

namespace cradle {

enum class SnapshotKind { kView, kActive, kCommitted };

using Labels = std::map<std::string, std::string>;

struct SnapshotInfo {
  std::string name;    // key or committed name
  std::string parent;  // empty for a base snapshot
  SnapshotKind kind = SnapshotKind::kActive;
  Labels labels;
  absl::Time created_at;
  absl::Time updated_at;
};

struct SnapshotUsage {
  int64_t bytes = 0;
  int64_t inodes = 0;
};

class Snapshotter {
 public:
  virtual ~Snapshotter() = default;

  // NotFound when there is no such key or name.
  virtual absl::StatusOr<SnapshotInfo> Stat(absl::string_view key) = 0;
  // A writable snapshot on top of `parent` (empty: an empty tree).
  // AlreadyExists when `key` is taken; NotFound when `parent` is not a
  // committed snapshot.
  virtual absl::StatusOr<std::vector<Mount>> Prepare(absl::string_view key,
                                                     absl::string_view parent,
                                                     const Labels& labels) = 0;
  // Like Prepare, but read-only and never committable.
  virtual absl::StatusOr<std::vector<Mount>> View(absl::string_view key,
                                                  absl::string_view parent,
                                                  const Labels& labels) = 0;
  // The mounts of an active snapshot or view.
  virtual absl::StatusOr<std::vector<Mount>> Mounts(absl::string_view key) = 0;
  // Turns the active snapshot `key` into the committed snapshot `name`.
  // AlreadyExists when `name` is taken (the active snapshot is kept).
  virtual absl::Status Commit(absl::string_view name, absl::string_view key,
                              const Labels& labels) = 0;
  // FailedPrecondition while other snapshots have it as parent.
  virtual absl::Status Remove(absl::string_view key) = 0;
  virtual absl::StatusOr<SnapshotUsage> Usage(absl::string_view key) = 0;
  virtual absl::Status Walk(
      absl::FunctionRef<absl::Status(const SnapshotInfo&)> fn) = 0;
};

// The optional power to apply a layer without mounting: the directory an
// active snapshot's changes live in, and how deletions must be written there.
enum class WhiteoutStyle {
  kOverlay,  // deletions as overlayfs whiteouts (char 0:0, opaque xattr)
  kDelete,   // the directory is a full tree: delete for real
};

class DirectApplier {
 public:
  virtual ~DirectApplier() = default;
  // The writable directory of active snapshot `key`, and the committed
  // parents' directories, newest first (to resolve hardlinks and copy up
  // parent directories from).
  struct Target {
    std::string dir;
    std::vector<std::string> lower_dirs;
    WhiteoutStyle whiteouts;
  };
  virtual absl::StatusOr<Target> ApplyTarget(absl::string_view key) = 0;
};

}  // namespace cradle

#endif  // CRADLE_SNAPSHOTS_SNAPSHOTTER_H_
