// The only place metadata keys are built. The key tree is drawn in
// docs/format/metadata-keys.md; a change here bumps kSchemaVersion.
#ifndef CRADLE_METADATA_KEYS_H_
#define CRADLE_METADATA_KEYS_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace cradle::metadata_keys {

inline constexpr int kSchemaVersion = 1;
inline constexpr char kVersionKey[] = "v1/version";

// Components are joined with '/'; names never contain a NUL, and the
// trailing '/' of a prefix keeps "k8s.io" from matching "k8s.io2".
inline std::string NamespacePrefix(absl::string_view ns) {
  return absl::StrCat("v1/ns/", ns, "/");
}
inline std::string ImagesPrefix(absl::string_view ns) {
  return absl::StrCat(NamespacePrefix(ns), "images/");
}
inline std::string Image(absl::string_view ns, absl::string_view name) {
  return absl::StrCat(ImagesPrefix(ns), name);
}

}  // namespace cradle::metadata_keys

#endif  // CRADLE_METADATA_KEYS_H_
