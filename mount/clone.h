// Attaching a changed copy of a mount tree somewhere else, with the new
// mount API (open_tree, mount_setattr, move_mount; Linux 5.12+). The
// runtime hands such copies to runc and crun as bind sources, so they need
// no support of their own for what the copy carries.
#ifndef CRADLE_MOUNT_CLONE_H_
#define CRADLE_MOUNT_CLONE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cradle {

struct CloneOptions {
  // Every mount of the copy read-only, submounts included.
  bool recursive_readonly = false;
  // An fd of a user namespace: the copy shows owners through its id map
  // (an idmapped mount). -1: no id mapping.
  int userns_fd = -1;
};

// Attaches at `target` (an existing directory or file, matching `source`'s
// kind) a copy of the tree mounted at or below `source`, submounts
// included, changed as `options` say. `source` itself stays as it is.
// FailedPrecondition when the kernel or the filesystem cannot do it.
absl::Status MountClone(absl::string_view source, absl::string_view target,
                        const CloneOptions& options);

// Whether a recursively read-only copy can be made here, tried for real on
// a scratch tree made and removed inside `scratch_dir`: what the CRI's
// recursive_read_only_mounts feature reports. An error says what failed.
absl::Status ProbeRecursiveReadOnly(absl::string_view scratch_dir);

}  // namespace cradle

#endif  // CRADLE_MOUNT_CLONE_H_
