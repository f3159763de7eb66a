// The overlayfs snapshotter, laid out as containerd's:
//   <root>/metadata.db        LevelDB: snapshot records
//   (docs/format/snapshots-layout.md) <root>/snapshots/<id>/fs  the snapshot's
//   tree (an overlay upper dir) <root>/snapshots/<id>/work overlay's work dir
#ifndef CRADLE_SNAPSHOTS_OVERLAY_OVERLAY_H_
#define CRADLE_SNAPSHOTS_OVERLAY_OVERLAY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "snapshots/snapshotter.h"

namespace cradle {

class OverlaySnapshotter : public Snapshotter, public DirectApplier {};

// Opens the snapshotter at `root`, removing directories a crash left without
// a record. FailedPrecondition when the kernel has no overlayfs.
absl::StatusOr<std::unique_ptr<OverlaySnapshotter>> OpenOverlaySnapshotter(
    const std::string& root);

// Whether overlayfs can be mounted here (tries a small mount under `dir`).
absl::Status ProbeOverlay(const std::string& dir);

}  // namespace cradle

#endif  // CRADLE_SNAPSHOTS_OVERLAY_OVERLAY_H_
