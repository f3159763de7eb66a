// Applies an image layer (tar, tar+gzip, tar+zstd) to a snapshot's
// directory, with OCI whiteouts, and computes its diff id on the way.
//
// Hostile layers cannot reach outside the directory: every path is resolved
// inside it (symlinks included, as if it were "/"), the last component of a
// path is never followed, ".." components and hardlinks that leave the layer
// are refused, and overlayfs's own xattrs in a layer are ignored.
#ifndef CRADLE_SNAPSHOTS_APPLY_APPLY_H_
#define CRADLE_SNAPSHOTS_APPLY_APPLY_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "digest/digest.h"
#include "snapshots/snapshotter.h"

namespace cradle {

struct ApplyResult {
  Digest diff_id;            // sha256 of the uncompressed tar stream
  int64_t uncompressed = 0;  // its size
};

// Bounds on what one layer may cost the node. Zero turns a bound off.
struct ApplyLimits {
  // A layer may expand to `max_expansion_ratio` times its compressed size;
  // past that it is refused, once it has expanded past the floor (small
  // layers compress very well and are harmless).
  int64_t max_expansion_ratio = 100;
  int64_t expansion_floor_bytes = int64_t{1} << 30;
  // Free space the snapshot filesystem keeps: unpacking stops below it.
  // Checked every `free_check_interval_bytes` written (and at the start).
  int64_t min_free_bytes = int64_t{256} << 20;
  int64_t free_check_interval_bytes = int64_t{64} << 20;
  int64_t max_entries = 1000000;
  // This layer and the ones below it, which are held open (one fd each) to
  // resolve hardlinks and parents.
  int64_t max_layers = 128;
};

// Reads the layer from `fd` (tar, tar+gzip or tar+zstd; nothing that needs
// an external program) and applies it to `target`. InvalidArgument names
// the offending entry of a malformed or hostile layer; ResourceExhausted
// names the limit a layer passed. On any error the caller removes the
// half-applied snapshot.
absl::StatusOr<ApplyResult> ApplyLayer(int fd,
                                       const DirectApplier::Target& target,
                                       const ApplyLimits& limits = {});

}  // namespace cradle

#endif  // CRADLE_SNAPSHOTS_APPLY_APPLY_H_
