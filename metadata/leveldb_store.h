// The LevelDB-backed MetadataStore (format: docs/format/metadata-keys.md).
#ifndef CRADLE_METADATA_LEVELDB_STORE_H_
#define CRADLE_METADATA_LEVELDB_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "metadata/metadata.h"

namespace cradle {

// Opens (creating if needed) the database in `dir`/meta.ldb and migrates
// its schema. FailedPrecondition when another process holds it or its
// schema is newer than this build.
absl::StatusOr<std::unique_ptr<MetadataStore>> OpenMetadataStore(
    const std::string& dir);

}  // namespace cradle

#endif  // CRADLE_METADATA_LEVELDB_STORE_H_
