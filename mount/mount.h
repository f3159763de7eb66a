// Mount descriptions (what a snapshotter hands out) and the code that
// performs them. Snapshotters never mount; the runtime and the unpacker do.
#ifndef CRADLE_MOUNT_MOUNT_H_
#define CRADLE_MOUNT_MOUNT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cradle {

struct Mount {
  std::string type;                  // "overlay", "bind"
  std::string source;                // a path for bind, "overlay" for overlay
  std::vector<std::string> options;  // "ro", "rbind", "lowerdir=...", ...
};

// Mounts `mounts` in order at `target`. On failure nothing stays mounted.
absl::Status MountAll(const std::vector<Mount>& mounts,
                      absl::string_view target);

// Unmounts everything at `target` (lazily if busy). Idempotent.
absl::Status UnmountAll(absl::string_view target);

// Unmounts every mount at or below `dir`, deepest first (a pod dir holds
// rootfs overlays, namespace pins and its shm). Idempotent.
absl::Status UnmountBelow(absl::string_view dir);

// The mount points at or below `dir`, from /proc/self/mountinfo.
std::vector<std::string> MountsBelow(absl::string_view dir);

}  // namespace cradle

#endif  // CRADLE_MOUNT_MOUNT_H_
