// The archive CheckpointContainer writes: one tar in the layout CRI-O,
// containerd and checkpointctl share, so their tools can read ours:
//
//   checkpoint/       CRIU's images (runc checkpoint --image-path)
//   config.dump       JSON: the container's id, name, image and runtime
//   spec.dump         the OCI runtime spec it runs with (config.json)
//   rootfs-diff.tar   its writable layer: what it added or changed
//   deleted.files     JSON list of image paths it deleted (only when any)
//   dump.log          CRIU's log of the dump
//   stats-dump        CRIU's dump statistics (when it wrote them)
#ifndef CRADLE_CRI_RUNTIME_CHECKPOINT_ARCHIVE_H_
#define CRADLE_CRI_RUNTIME_CHECKPOINT_ARCHIVE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cri/store/container_store.h"

namespace cradle {

struct CheckpointFiles {
  std::string criu_images_dir;  // becomes checkpoint/
  std::string work_dir;         // holds dump.log and stats-dump
  std::string config_dump;      // the text of config.dump
  std::string spec_dump;        // the text of spec.dump
  // The overlay upper directory of the container's root filesystem; its
  // whiteouts become deleted.files. Empty: no rootfs-diff.tar.
  std::string upper_dir;
};

// Writes the archive to `location` (absolute) through `location`.tmp,
// renamed into place only when complete (lite::AtomicFile): on failure
// nothing is left at `location` and no temporary remains. Files that the
// running container removes or changes meanwhile are left out or cut to
// the size they had when reached.
absl::Status WriteCheckpointArchive(const CheckpointFiles& files,
                                    const std::string& location);

// config.dump for a container: the fields checkpointctl shows.
std::string CheckpointConfigDump(const CriContainer& c,
                                 const std::string& runtime_name,
                                 absl::Time checkpointed_at);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_CHECKPOINT_ARCHIVE_H_
