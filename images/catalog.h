// Images as the CRI sees them: one image per config digest (its id, as in
// containerd), with every name that points to it as a repo tag or a repo
// digest. Built from the metadata records and the stored manifests.
//
// The kubelet lists images every few seconds: what each stored manifest and
// config say is parsed once and kept in memory by the digest the record
// points to (content is immutable, so an entry never goes stale); entries
// of images no longer recorded are dropped at the next List.
#ifndef CRADLE_IMAGES_CATALOG_H_
#define CRADLE_IMAGES_CATALOG_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "oci/image.h"

namespace cradle {

struct CatalogImage {
  Digest id = Digest::OfBytes("");     // config digest
  std::vector<std::string> names;      // metadata record names
  std::vector<std::string> repo_tags;  // "docker.io/library/busybox:latest"
  std::vector<std::string>
      repo_digests;  // "docker.io/library/busybox@sha256:..."
  int64_t size = 0;  // manifest + config + layers, as stored
  oci::ImageConfig config;
  Digest top_chain_id =
      Digest::OfBytes("");  // snapshot a container starts from
};

// Thread-safe (reads only, plus an in-memory cache; writes go through the
// metadata store).
class ImageCatalog {
 public:
  ImageCatalog(ContentStore* content, MetadataStore* metadata, std::string ns)
      : content_(content), metadata_(metadata), ns_(std::move(ns)) {}

  absl::StatusOr<std::vector<CatalogImage>> List();
  // By id ("sha256:<config>"), by name ("busybox", "repo:tag"), or by
  // digest ("repo@sha256:<manifest>"). NotFound when nothing matches.
  absl::StatusOr<CatalogImage> Find(absl::string_view spec);
  // Removing a tag of an image with several names untags only that name;
  // removing by id or digest removes the image. NotFound when nothing matches.
  absl::Status Remove(absl::string_view spec);

 private:
  // What the documents under one record target say (no names).
  struct Resolved {
    Digest id = Digest::OfBytes("");
    int64_t size = 0;
    oci::ImageConfig config;
    Digest top_chain_id = Digest::OfBytes("");
  };
  absl::StatusOr<CatalogImage> Resolve(const Image& record);
  absl::StatusOr<std::shared_ptr<const Resolved>> ResolveContent(
      const Descriptor& target);
  // Refuses blobs over `max_size` before reading them.
  absl::StatusOr<std::string> ReadBlob(const Digest& digest, int64_t max_size);

  ContentStore* content_;
  MetadataStore* metadata_;
  std::string ns_;
  absl::Mutex mu_;
  // Record target digest -> what its documents say.
  absl::flat_hash_map<std::string, std::shared_ptr<const Resolved>> cache_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace cradle

#endif  // CRADLE_IMAGES_CATALOG_H_
