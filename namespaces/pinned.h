// Namespaces pinned by a bind mount, so they outlive every process in them:
// a pod without a pause process keeps its network, IPC and UTS namespaces
// across container restarts and daemon restarts.
#ifndef CRADLE_NAMESPACES_PINNED_H_
#define CRADLE_NAMESPACES_PINNED_H_

#include <functional>
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

// Pins the namespace file `from` (/proc/<pid>/ns/<name>) at `path`, a file
// that must not exist yet. AlreadyExists when it does; on failure nothing
// is left at `path`.
absl::Status PinNamespace(const std::string& from, const std::string& path);

// The name of `kind` under /proc/<pid>/ns/ ("net") and its CLONE_NEW* flag.
const char* NamespaceProcName(NamespaceKind kind);
int NamespaceCloneFlag(NamespaceKind kind);

// Unmounts and removes the pin. Idempotent.
absl::Status RemovePinnedNamespace(absl::string_view path);

// Whether `path` is a pinned namespace.
bool IsPinnedNamespace(absl::string_view path);

// Runs `work` on a thread of its own that has entered the network namespace
// at `path` (sockets and /proc/thread-self/net belong to it there); the
// caller's threads stay where they are. FailedPrecondition, and `work` does
// not run, when the namespace cannot be entered.
absl::Status RunInNetworkNamespace(absl::string_view path,
                                   const std::function<void()>& work);

}  // namespace cradle

#endif  // CRADLE_NAMESPACES_PINNED_H_
