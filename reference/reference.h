// Image references: "busybox", "127.0.0.1:5000/pause:3.9", "repo@sha256:...".
//
// Parsed the way the docker/distribution grammar reads them and normalised
// the way containerd and the kubelet expect: a name without a registry is on
// docker.io, a single-component docker.io name is under "library/", and a
// reference with neither tag nor digest means ":latest".
#ifndef CRADLE_REFERENCE_REFERENCE_H_
#define CRADLE_REFERENCE_REFERENCE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "digest/digest.h"

namespace cradle {

class ImageReference {
 public:
  // Parses and normalises. InvalidArgument says which part is malformed.
  static absl::StatusOr<ImageReference> Parse(absl::string_view text);

  // "docker.io", "127.0.0.1:5000", "registry.k8s.io".
  const std::string& domain() const { return domain_; }
  // Repository path inside the registry: "library/busybox".
  const std::string& path() const { return path_; }
  // Empty when the reference is by digest only.
  const std::string& tag() const { return tag_; }
  const std::optional<Digest>& digest() const { return digest_; }

  // "docker.io/library/busybox".
  std::string Repository() const { return domain_ + "/" + path_; }
  // The full normalised name: "docker.io/library/busybox:latest",
  // "docker.io/library/busybox@sha256:...", or "name:tag@sha256:..." when both.
  std::string String() const;
  // What the registry is asked for: the digest if there is one, else the tag.
  std::string Object() const { return digest_ ? digest_->ToString() : tag_; }

 private:
  std::string domain_;
  std::string path_;
  std::string tag_;
  std::optional<Digest> digest_;
};

}  // namespace cradle

#endif  // CRADLE_REFERENCE_REFERENCE_H_
