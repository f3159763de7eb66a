// Namespaces pinned by a bind mount, so they outlive every process in them:
// a pod without a pause process keeps its network, IPC and UTS namespaces
// across container restarts and daemon restarts.
#ifndef CRADLE_NAMESPACES_PINNED_H_
#define CRADLE_NAMESPACES_PINNED_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cradle {

enum class NamespaceKind { kNetwork, kIpc, kUts };

// Creates a new namespace of `kind` pinned at `path` (a file that must not
// exist yet; its directory is created). For kUts, `hostname` is set in it.
// AlreadyExists when `path` exists.
absl::Status CreatePinnedNamespace(NamespaceKind kind, absl::string_view path,
                                   absl::string_view hostname = "");

// Unmounts and removes the pin. Idempotent.
absl::Status RemovePinnedNamespace(absl::string_view path);

// Whether `path` is a pinned namespace.
bool IsPinnedNamespace(absl::string_view path);

}  // namespace cradle

#endif  // CRADLE_NAMESPACES_PINNED_H_
