// What a container's mounts need made on the host before the OCI runtime
// runs: read-only views of the images mounted as volumes (Mount.image), and
// copies of bind sources carrying what runc and crun cannot do themselves
// (submounts read-only, id mapping). All of it is mounted below the
// container's own dir, <root>/cri/containers/<id>/mounts, and goes with it.
#ifndef CRADLE_CRI_RUNTIME_CONTAINER_MOUNTS_H_
#define CRADLE_CRI_RUNTIME_CONTAINER_MOUNTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/store/container_store.h"
#include "mount/mount.h"
#include "runc_driver/spec/spec.h"
#include "snapshots/snapshotter.h"

namespace cradle {

// In a pod with its own user namespace, the layers are read through one
// idmapped copy of the snapshotter's store: an overlay mount itself cannot
// be idmapped, its layers can. `store` is the directory every snapshot's
// dirs are in, `copy` where the idmapped copy of it is mounted.
struct IdmappedLayers {
  std::string store;
  std::string copy;
};

// Mounts an idmapped copy of `store` at `copy` (made if missing).
absl::StatusOr<IdmappedLayers> MountIdmappedLayers(const std::string& store,
                                                   const std::string& copy,
                                                   int userns_fd);

// `mounts` with every path into the store (lower dirs, bind sources) read
// through the copy instead. Upper and work dirs stay where they are: the
// kernel refuses an idmapped upper layer to a mounter it does not map.
std::vector<Mount> ThroughIdmappedLayers(const std::vector<Mount>& mounts,
                                         const IdmappedLayers& layers);

// Gives the upper dir of an overlay in `mounts` to `uid`:`gid` (the pod's
// root on the host), so that root in the pod may write its root
// filesystem. Only that empty dir changes owner; the image never does.
absl::Status GiveUpperDir(const std::vector<Mount>& mounts, uint32_t uid,
                          uint32_t gid);

// Whether pods can have user namespaces here: a scratch overlay made in
// `scratch_dir` over an idmapped lower layer shows its files with mapped
// owners. Everything made is removed. An error says what failed.
absl::Status ProbeUserNamespaces(const std::string& scratch_dir);

// The snapshot key of the view behind a container's `index`-th image volume.
std::string ImageVolumeKey(const std::string& container_id, int index);

// Makes a read-only view of the committed snapshot `parent` (an image's top
// chain id) as snapshot `key`, mounts it at <mounts_dir>/image-<index> and
// returns the host path to bind: the view's root or `sub_path` inside it.
// Links in `sub_path` resolve inside the view, never out of it. NotFound
// when `sub_path` is not in the image.
absl::StatusOr<std::string> MountImageVolume(
    Snapshotter& snapshotter, const std::string& key, const std::string& parent,
    const std::string& mounts_dir, int index, const std::string& sub_path,
    const IdmappedLayers* layers = nullptr);

// Replaces the host path of each bind mount of `spec` that needs a copy
// (recursively read-only, or idmapped through the user namespace
// `userns_fd`) with such a copy below `mounts_dir`.
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

// Removes `dir` (a container's own dir, a probe's scratch dir), refusing
// while anything is mounted below it: a writable copy of a host path must
// never be deleted through.
absl::Status RemoveIfNothingMounted(const std::string& dir);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_CONTAINER_MOUNTS_H_
