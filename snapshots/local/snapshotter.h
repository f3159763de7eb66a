// Directory-backed snapshotters, laid out as containerd's
// (docs/format/snapshots-layout.md):
//   <root>/metadata.db          LevelDB: snapshot records
//   <root>/snapshots/<id>/fs    the snapshot's tree
//   <root>/snapshots/<id>/work  overlayfs's work dir
// Two drivers share the records and the layout:
//   overlay  fs/ holds a snapshot's changes only; mounts stack the parents
//            with overlayfs; layers are applied with overlay whiteouts.
//   native   fs/ holds a full copy of the parent's tree (cp -a); mounts are
//            binds; deletions are real. For kernels or filesystems without
//            overlayfs.
#ifndef CRADLE_SNAPSHOTS_LOCAL_SNAPSHOTTER_H_
#define CRADLE_SNAPSHOTS_LOCAL_SNAPSHOTTER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "snapshots/snapshotter.h"

namespace cradle {

enum class SnapshotDriver { kOverlay, kNative };

class LocalSnapshotter : public Snapshotter, public DirectApplier {};

// Opens the snapshotter at `root`, removing directories a crash left without
// a record. For kOverlay, FailedPrecondition when overlayfs cannot be
// mounted here.
absl::StatusOr<std::unique_ptr<LocalSnapshotter>> OpenLocalSnapshotter(
    const std::string& root, SnapshotDriver driver);

// Whether overlayfs can be mounted under `dir` (tries a small mount).
absl::Status ProbeOverlay(const std::string& dir);

}  // namespace cradle

#endif  // CRADLE_SNAPSHOTS_LOCAL_SNAPSHOTTER_H_
