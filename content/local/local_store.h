// The file-backed content store (layout in docs/format/content-layout.md):
//   <root>/blobs/sha256/<hex>       committed blobs, read-only
//   <root>/ingest/<sha256(ref)>/    one dir per ingest in progress:
//       data ref total expected startedat updatedat
//
// It keeps no labels: Update and Commit with labels are Unimplemented. Labels
// and ownership live in the metadata store (metadata/content_store.h wraps
// this store per namespace and adds them).
#ifndef CRADLE_CONTENT_LOCAL_LOCAL_STORE_H_
#define CRADLE_CONTENT_LOCAL_LOCAL_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "content/content.h"

namespace cradle {

// Creates the directories as needed and drops ingest directories a crash
// left unusable. The root must be owned by this process alone (the daemon's
// root lock ensures it): the ref locks are in memory.
absl::StatusOr<std::unique_ptr<ContentStore>> OpenLocalContentStore(
    const std::string& root);

}  // namespace cradle

#endif  // CRADLE_CONTENT_LOCAL_LOCAL_STORE_H_
