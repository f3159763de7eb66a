// OCI image-spec documents: descriptors, manifests, indexes, image configs.
//
// Docker's schema2 manifest and manifest list have the same shape as their
// OCI counterparts and parse into the same types. Parsing validates what the
// puller relies on (digests, sizes, media types) and names the field that is
// wrong; it never throws.
#ifndef CRADLE_OCI_IMAGE_H_
#define CRADLE_OCI_IMAGE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "digest/digest.h"

namespace cradle::oci {

namespace media_type {
inline constexpr char kIndex[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kManifest[] =
    "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kConfig[] = "application/vnd.oci.image.config.v1+json";
inline constexpr char kLayer[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kLayerGzip[] =
    "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char kLayerZstd[] =
    "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr char kDockerManifestList[] =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kDockerManifest[] =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char kDockerConfig[] =
    "application/vnd.docker.container.image.v1+json";
inline constexpr char kDockerLayerGzip[] =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
}  // namespace media_type

bool IsIndexType(absl::string_view media_type);
bool IsManifestType(absl::string_view media_type);
bool IsConfigType(absl::string_view media_type);
// Layer types cradle can unpack (tar, gzip, zstd; OCI and Docker names).
bool IsLayerType(absl::string_view media_type);

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
  std::string os_version;
};

struct Descriptor {
  std::string media_type;
  Digest digest = Digest::OfBytes("");
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> urls;
  std::optional<Platform> platform;  // in an index
};

struct Manifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
};

struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
};

// Image configs larger than this are refused, as manifests are
// (kMaxManifestSize): the daemon reads and parses them whole.
inline constexpr int64_t kMaxConfigSize = 4 << 20;

// What an image's config says about running it, and its layers' diff ids.
struct ImageConfig {
  std::string os;
  std::string architecture;
  std::string variant;
  std::string created;  // RFC 3339, may be empty
  std::string user;
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::vector<std::string> exposed_ports;  // "80/tcp"
  std::vector<std::string> volumes;        // "/data"
  std::string stop_signal;
  std::map<std::string, std::string> labels;
  std::vector<Digest> diff_ids;
};

// `media_type` is what the registry announced; the document's own mediaType
// wins when present (and must agree in kind).
absl::StatusOr<Index> ParseIndex(absl::string_view json);
absl::StatusOr<Manifest> ParseManifest(absl::string_view json);
absl::StatusOr<ImageConfig> ParseImageConfig(absl::string_view json);

// The kind of a fetched top-level document: "index" or "manifest", from the
// announced media type or, failing that, the document's shape.
absl::StatusOr<std::string> DocumentKind(absl::string_view announced_media_type,
                                         absl::string_view json);

// The platform this machine runs (linux + uname's machine, in Go's names).
Platform HostPlatform();

// Picks the manifest for `want` from an index: os and architecture must
// match; among variants an exact one is preferred, then none, then the
// nearest lower one (amd64 v1..v4, arm v5..v8). NotFound lists what the
// index offers.
absl::StatusOr<Descriptor> ChoosePlatform(const Index& index,
                                          const Platform& want);

}  // namespace cradle::oci

#endif  // CRADLE_OCI_IMAGE_H_
