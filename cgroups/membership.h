// Putting a process in a cgroup of its own, and removing that cgroup once
// it is empty: the shim lives in one so its memory is accounted to the pod
// rather than to whatever started it. No absl: the static shim links it.
#ifndef CRADLE_CGROUPS_MEMBERSHIP_H_
#define CRADLE_CGROUPS_MEMBERSHIP_H_

#include <sys/types.h>

#include <string>

#include "lite/status.h"

namespace cradle {

// Moves `pid` into `path` ("/a/b", cgroupfs form), creating it in every v1
// hierarchy mounted under `root`, or in the v2 tree when `root` is one.
lite::Status JoinCgroup(const std::string& path, pid_t pid,
                        const std::string& root = "/sys/fs/cgroup");

// Removes `path` wherever it exists; OK when it is already gone.
// FailedPrecondition while a process is still in it.
lite::Status RemoveCgroup(const std::string& path,
                          const std::string& root = "/sys/fs/cgroup");

}  // namespace cradle

#endif  // CRADLE_CGROUPS_MEMBERSHIP_H_
