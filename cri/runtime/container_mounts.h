// What a container's mounts need made on the host before the OCI runtime
// runs: read-only views of the images mounted as volumes (Mount.image), and
// copies of bind sources carrying what runc and crun cannot do themselves
// (submounts read-only, id mapping). All of it is mounted below the
// container's own dir, <root>/cri/containers/<id>/mounts, and goes with it.
#ifndef CRADLE_CRI_RUNTIME_CONTAINER_MOUNTS_H_
#define CRADLE_CRI_RUNTIME_CONTAINER_MOUNTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "cri/store/container_store.h"
#include "runc_driver/spec/spec.h"
#include "snapshots/snapshotter.h"

namespace cradle {

// The snapshot key of the view behind a container's `index`-th image volume.
std::string ImageVolumeKey(const std::string& container_id, int index);

// Makes a read-only view of the committed snapshot `parent` (an image's top
// chain id) as snapshot `key`, mounts it at <mounts_dir>/image-<index> and
// returns the host path to bind: the view's root or `sub_path` inside it.
// Links in `sub_path` resolve inside the view, never out of it. NotFound
// when `sub_path` is not in the image.
absl::StatusOr<std::string> MountImageVolume(
    Snapshotter& snapshotter, const std::string& key, const std::string& parent,
    const std::string& mounts_dir, int index, const std::string& sub_path);

// Replaces the host path of each bind mount of `spec` that needs a copy (a
// recursively read-only one; every one when `userns_fd` >= 0, idmapped
// through that user namespace) with such a copy below `mounts_dir`.
absl::Status PrepareBindSources(spec::ContainerSpecInput& spec,
                                const std::string& mounts_dir,
                                int userns_fd = -1);

// Unmounts everything below `mounts_dir` and removes the container's image
// views. Idempotent; an error leaves what could not go for a retry.
absl::Status ReleaseContainerMounts(Snapshotter& snapshotter,
                                    const CriContainer& container,
                                    const std::string& mounts_dir);

// FailedPrecondition naming the first container that mounts the image
// `image_id` as a volume: its view reads the image's layers.
absl::Status CheckImageUnused(ContainerStore& containers,
                              const std::string& image_id);

// Removes a container's own dir, refusing while anything is mounted below
// it: a writable copy of a host path must never be deleted through.
absl::Status RemoveContainerDir(const std::string& dir);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_CONTAINER_MOUNTS_H_
