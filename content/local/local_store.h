// The file-backed content store under <root>/content:
//   blobs/sha256/<hex>         committed blobs, read-only
//   ingest/<sha256(ref)>/      one dir per ingest in progress:
//       data ref total expected startedat
// See docs/format/content-layout.md.
#ifndef CRADLE_CONTENT_LOCAL_LOCAL_STORE_H_
#define CRADLE_CONTENT_LOCAL_LOCAL_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "content/content.h"

namespace cradle {

// Creates the directories as needed. The root must be owned by this process
// alone (the daemon's root lock ensures it).
absl::StatusOr<std::unique_ptr<ContentStore>> OpenLocalContentStore(
    const std::string& root);

}  // namespace cradle

#endif  // CRADLE_CONTENT_LOCAL_LOCAL_STORE_H_
