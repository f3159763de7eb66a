// The snapshots the CRI's containers stand on, which the containerd API
// must not change under them: a container's writable root and its image
// volume views. The CRI removes those itself, with the container.
#ifndef CRADLE_CONTAINERD_API_CRI_SNAPSHOTS_H_
#define CRADLE_CONTAINERD_API_CRI_SNAPSHOTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "containerd_api/api_context.h"
#include "containerd_api/api_deps.h"
#include "cri/store/container_store.h"

namespace cradle::containerd_api {

// FailedPrecondition when backend snapshot key `bkey`, in namespace `ns`,
// is the root (or an image volume) of a CRI container.
inline absl::Status RefuseCriRoot(const ContainerdApiDeps& deps,
                                  absl::string_view ns,
                                  absl::string_view bkey) {
  if (ns != kCriNamespace || deps.cri_containers == nullptr)
    return absl::OkStatus();
  for (const CriContainer& c : deps.cri_containers->List()) {
    if (!c.snapshotter.empty() && c.snapshotter != deps.snapshotter_name)
      continue;
    bool used = c.snapshot_key == bkey;
    for (const auto& v : c.image_volumes) used |= v.snapshot_key == bkey;
    if (used) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot ", bkey, " is in use by CRI container ", c.id,
                       "; remove the container through the CRI"));
    }
  }
  return absl::OkStatus();
}

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_CRI_SNAPSHOTS_H_
