// Where the Tasks service keeps a task's files, in one place: the Tasks
// service makes them and the Containers service must see whether a
// container has a task without reaching into the Tasks service's state.
#ifndef CRADLE_CONTAINERD_API_TASK_PATHS_H_
#define CRADLE_CONTAINERD_API_TASK_PATHS_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace cradle::containerd_api {

// A task's bundle (config.json, rootfs/, task.json, shim/, shim.log) under
// the daemon's state dir (`state` of ContainerdApiDeps).
inline std::string TaskBundlePath(absl::string_view state, absl::string_view ns,
                                  absl::string_view id) {
  return absl::StrCat(state, "/containerd/tasks/", ns, "/", id);
}

// The task's record, written (atomically) before its shim is launched and
// removed last when the task is deleted: while it exists, the task does.
inline std::string TaskRecordPath(absl::string_view state, absl::string_view ns,
                                  absl::string_view id) {
  return absl::StrCat(TaskBundlePath(state, ns, id), "/task.json");
}

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_TASK_PATHS_H_
