// The only place metadata keys are built. The key tree is drawn in
// docs/format/metadata-keys.md; a change of layout bumps kSchemaVersion and
// adds a migration (migrations.h).
//
// Components are joined with '/'. Namespaces, container, sandbox and lease
// ids and snapshotter names never contain '/' or NUL (ValidateComponent);
// image names, digests and snapshot keys may contain '/' because they are
// always the last component. Prefixes end in '/' so "k8s.io" never matches
// "k8s.io2".
#ifndef CRADLE_METADATA_KEYS_H_
#define CRADLE_METADATA_KEYS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace cradle::metadata_keys {

inline constexpr int kSchemaVersion = 1;
inline constexpr char kVersionKey[] = "v1/version";
inline constexpr char kNamespacesPrefix[] = "v1/ns/";

// Record kinds: the path component after the namespace.
inline constexpr char kImages[] = "images";
inline constexpr char kContainers[] = "containers";
inline constexpr char kSandboxes[] = "sandboxes";
inline constexpr char kContent[] = "content";
inline constexpr char kSnapshots[] = "snapshots";
inline constexpr char kLeases[] = "leases";
inline constexpr char kLeaseResources[] = "lease-resources";

// InvalidArgument unless `value` is a usable single path component.
inline absl::Status ValidateComponent(absl::string_view what,
                                      absl::string_view value) {
  if (value.empty() || absl::StrContains(value, '/') ||
      absl::StrContains(value, absl::string_view("\0", 1))) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", value, "\" must be non-empty without '/'"));
  }
  return absl::OkStatus();
}

inline std::string NamespacePrefix(absl::string_view ns) {
  return absl::StrCat(kNamespacesPrefix, ns, "/");
}
// All records of one kind in a namespace.
inline std::string KindPrefix(absl::string_view ns, absl::string_view kind) {
  return absl::StrCat(NamespacePrefix(ns), kind, "/");
}
inline std::string Record(absl::string_view ns, absl::string_view kind,
                          absl::string_view id) {
  return absl::StrCat(KindPrefix(ns, kind), id);
}

inline std::string ImagesPrefix(absl::string_view ns) {
  return KindPrefix(ns, kImages);
}
inline std::string Image(absl::string_view ns, absl::string_view name) {
  return Record(ns, kImages, name);
}
// Snapshot records are keyed "<snapshotter>/<key>".
inline std::string Snapshot(absl::string_view ns, absl::string_view snapshotter,
                            absl::string_view key) {
  return Record(ns, kSnapshots, absl::StrCat(snapshotter, "/", key));
}
// One resource held by a lease: ".../lease-resources/<lease>/<type>/<id>".
inline std::string LeaseResourcesPrefix(absl::string_view ns,
                                        absl::string_view lease) {
  return absl::StrCat(KindPrefix(ns, kLeaseResources), lease, "/");
}
inline std::string LeaseResource(absl::string_view ns, absl::string_view lease,
                                 absl::string_view type, absl::string_view id) {
  return absl::StrCat(LeaseResourcesPrefix(ns, lease), type, "/", id);
}

// A namespace's own labels: "v1/ns/<ns>/labels" (no trailing '/', so no
// record kind's prefix matches it).
inline std::string NamespaceLabels(absl::string_view ns) {
  return absl::StrCat(NamespacePrefix(ns), "labels");
}

// Index: which namespaces hold a content record for a digest.
// "v1/idx/content/<digest>/<namespace>" -> "".
inline constexpr char kContentIndexPrefix[] = "v1/idx/content/";
inline std::string ContentOwnersPrefix(absl::string_view digest) {
  return absl::StrCat(kContentIndexPrefix, digest, "/");
}
inline std::string ContentOwner(absl::string_view digest,
                                absl::string_view ns) {
  return absl::StrCat(ContentOwnersPrefix(digest), ns);
}

}  // namespace cradle::metadata_keys

#endif  // CRADLE_METADATA_KEYS_H_
