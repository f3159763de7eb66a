// The metadata store: typed records in namespaces ("k8s.io" for the CRI),
// persisted in LevelDB. No LevelDB type escapes this header; keys are built
// only in keys.h; the format is drawn in docs/format/metadata-keys.md.
#ifndef CRADLE_METADATA_METADATA_H_
#define CRADLE_METADATA_METADATA_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cradle {

struct ImageTarget {
  std::string media_type;
  std::string digest;  // "sha256:..."
  int64_t size = 0;
};

struct Image {
  std::string name;
  ImageTarget target;
  std::map<std::string, std::string> labels;
  absl::Time created_at;
  absl::Time updated_at;
};

// Thread-safe. Every write is synced before it returns.
class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // NotFound when absent.
  virtual absl::StatusOr<Image> GetImage(absl::string_view ns,
                                         absl::string_view name) = 0;
  virtual absl::StatusOr<std::vector<Image>> ListImages(
      absl::string_view ns) = 0;
  // Creates or updates (keeping created_at) the image record.
  virtual absl::Status PutImage(absl::string_view ns, const Image& image) = 0;
  // Removes several names at once, all or nothing. Missing names are skipped.
  virtual absl::Status DeleteImages(absl::string_view ns,
                                    const std::vector<std::string>& names) = 0;
};

// Opens (creating if needed) the database in `dir`, checking its schema
// version. FailedPrecondition when another process holds it.
absl::StatusOr<std::unique_ptr<MetadataStore>> OpenMetadataStore(
    const std::string& dir);

}  // namespace cradle

#endif  // CRADLE_METADATA_METADATA_H_
