// A namespace's view of the content store, as containerd's metadata layer
// gives it: the blobs live once in a shared backend (the local store), and
// the metadata store records which namespace uses which blob, with its
// labels. Writes made through a view with a lease record the ingest and the
// expected blob in that lease before any byte is written, so the garbage
// collector never removes a half-pulled image.
//
//   Info/Open/Walk      only blobs with a content record in the namespace
//   Writer              AlreadyExists when the namespace has the blob; when
//                       only the backend has it, records it for the
//                       namespace and returns AlreadyExists (no download)
//   Commit(labels)      backend commit, then the content record
//   Delete              drops the namespace's record; the blob goes at the
//                       next collection if nothing else uses it
//   Update              the record's labels
#ifndef CRADLE_METADATA_CONTENT_STORE_H_
#define CRADLE_METADATA_CONTENT_STORE_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "content/content.h"
#include "metadata/metadata.h"

namespace cradle {

// The backend ingest ref of `ref` written through namespace `ns`'s view, so
// two namespaces using the same ref do not share an ingest.
std::string NamespacedIngestRef(absl::string_view ns, absl::string_view ref);

class NamespacedContentStore {
 public:
  // `backend` and `metadata` are not owned and must outlive the view.
  // `lease_id` may be empty (no lease); a lease that does not exist makes
  // Writer fail with NotFound. The view is thread-safe.
  static std::unique_ptr<ContentStore> Create(ContentStore* backend,
                                              MetadataStore* metadata,
                                              std::string ns,
                                              std::string lease_id);
};

}  // namespace cradle

#endif  // CRADLE_METADATA_CONTENT_STORE_H_
