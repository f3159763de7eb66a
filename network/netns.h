// Network namespaces pinned by a bind mount, so they outlive every process
// in them (a pod without a pause process, a daemon restart).
#ifndef CRADLE_NETWORK_NETNS_H_
#define CRADLE_NETWORK_NETNS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cradle {

// Creates a new network namespace with its loopback down, pinned at `path`
// (a file that must not exist yet; its directory is created).
absl::Status CreateNetNs(absl::string_view path);

// Unmounts and removes the pin. Idempotent.
absl::Status RemoveNetNs(absl::string_view path);

// Whether `path` is a pinned network namespace.
bool IsNetNs(absl::string_view path);

}  // namespace cradle

#endif  // CRADLE_NETWORK_NETNS_H_
