// The content store: blobs addressed by their digest, written through
// resumable ingests (containerd's model, see docs/format/content-layout.md).
//
// A blob becomes visible only when a writer commits it with the size and
// digest it was promised, so a lying or broken registry can never leave a
// blob whose name does not match its bytes. Labels and ownership live in the
// metadata store, not here.
#ifndef CRADLE_CONTENT_CONTENT_H_
#define CRADLE_CONTENT_CONTENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "digest/digest.h"

namespace cradle {

struct BlobInfo {
  Digest digest;
  int64_t size = 0;
  absl::Time committed_at;
};

struct IngestInfo {
  std::string ref;
  int64_t offset = 0;          // bytes written so far
  int64_t expected_size = -1;  // -1 when unknown
  std::string expected_digest;
  absl::Time started_at;
  absl::Time updated_at;
};

// Sequential and positional reads of one committed blob. Not thread-safe.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual int64_t size() const = 0;
  // Up to `n` bytes at `offset`; fewer only at the end of the blob.
  virtual absl::StatusOr<std::string> ReadAt(int64_t offset, size_t n) = 0;
  // A file descriptor positioned at 0, owned by the reader (for libarchive
  // and sendfile). -1 when the store is not file-backed.
  virtual int fd() const = 0;
};

// One ingest in progress. Not thread-safe. Destroying it without Commit
// keeps the bytes for a later writer with the same ref to resume.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual absl::Status Write(absl::string_view data) = 0;
  // Bytes held so far (including those of an earlier, resumed attempt).
  virtual int64_t offset() const = 0;
  // Makes the blob visible if its size and digest are the expected ones.
  // DataLoss on a mismatch (the ingest is discarded); AlreadyExists when
  // the blob was already there (the ingest is discarded; callers treat it
  // as success).
  virtual absl::Status Commit(int64_t expected_size,
                              const Digest& expected) = 0;
};

// Thread-safe.
class ContentStore {
 public:
  virtual ~ContentStore() = default;

  // NotFound when the blob is not committed.
  virtual absl::StatusOr<BlobInfo> Info(const Digest& digest) = 0;
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> Open(
      const Digest& digest) = 0;
  virtual absl::Status Delete(const Digest& digest) = 0;
  virtual absl::Status Walk(
      absl::FunctionRef<absl::Status(const BlobInfo&)> fn) = 0;

  // Opens the ingest `ref` (resuming it if it exists). AlreadyExists when
  // `expected` is already committed; Unavailable while another writer holds
  // the same ref.
  virtual absl::StatusOr<std::unique_ptr<BlobWriter>> Writer(
      absl::string_view ref, int64_t expected_size, const Digest& expected) = 0;
  virtual absl::StatusOr<std::vector<IngestInfo>> ListIngests() = 0;
  // Drops an ingest. Idempotent.
  virtual absl::Status Abort(absl::string_view ref) = 0;
};

}  // namespace cradle

#endif  // CRADLE_CONTENT_CONTENT_H_
