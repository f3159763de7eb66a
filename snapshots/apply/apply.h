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

// Reads the layer from `fd` (any compression libarchive knows) and applies
// it to `target`. InvalidArgument names the offending entry of a malformed
// or hostile layer; the caller then removes the half-applied snapshot.
absl::StatusOr<ApplyResult> ApplyLayer(int fd,
                                       const DirectApplier::Target& target);

}  // namespace cradle

#endif  // CRADLE_SNAPSHOTS_APPLY_APPLY_H_
