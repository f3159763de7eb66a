// How a containerd namespace's snapshot keys map onto the one backend
// snapshotter cradled runs. The backend has a single key space; containerd
// gives every namespace its own, so keys are prefixed by namespace there.
//
//   namespace "k8s.io" (the CRI's):  backend key == client key, and client
//                                    keys may not hold '/' (so they never
//                                    look like another namespace's);
//   any other namespace NS:          backend key == "NS/<client key>".
//
// Committed names and parents map the same way. Since namespace names never
// hold '/', the mapping is one-to-one and a backend key tells its namespace.
#ifndef CRADLE_CONTAINERD_API_SNAPSHOT_KEYS_H_
#define CRADLE_CONTAINERD_API_SNAPSHOT_KEYS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "metadata/metadata.h"

namespace cradle::containerd_api {

inline constexpr char const* kCriSnapshotNamespace = kIdentitySnapshotNamespace;

// InvalidArgument unless `key` can be a client's snapshot key (or committed
// name) in namespace `ns`: non-empty, no NUL, and no '/' in "k8s.io".
inline absl::Status ValidateClientSnapshotKey(absl::string_view ns,
                                              absl::string_view key) {
  if (key.empty()) {
    return absl::InvalidArgumentError("snapshot key must not be empty");
  }
  if (absl::StrContains(key, absl::string_view("\0", 1))) {
    return absl::InvalidArgumentError("snapshot key must not contain NUL");
  }
  if (ns == kCriSnapshotNamespace && absl::StrContains(key, '/')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "snapshot key \"", key, "\" must not contain '/' in namespace ",
        kCriSnapshotNamespace));
  }
  return absl::OkStatus();
}

// The backend snapshotter's key for client key `key` of namespace `ns`
// (metadata.h, which the collector shares). Does not validate; see
// ValidateClientSnapshotKey.
using ::cradle::BackendSnapshotKey;

// Whether backend key `backend_key` belongs to namespace `ns`.
inline bool BackendSnapshotKeyInNamespace(absl::string_view ns,
                                          absl::string_view backend_key) {
  if (ns == kCriSnapshotNamespace) {
    return !backend_key.empty() && !absl::StrContains(backend_key, '/');
  }
  return backend_key.size() > ns.size() + 1 &&
         absl::StartsWith(backend_key, ns) && backend_key[ns.size()] == '/';
}

// The client key namespace `ns` knows backend key `backend_key` by; "" when
// that key is not one of the namespace's (or is "").
inline std::string ClientSnapshotKey(absl::string_view ns,
                                     absl::string_view backend_key) {
  if (!BackendSnapshotKeyInNamespace(ns, backend_key)) return "";
  if (ns == kCriSnapshotNamespace) return std::string(backend_key);
  return std::string(backend_key.substr(ns.size() + 1));
}

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_SNAPSHOT_KEYS_H_
