// The content store: blobs addressed by their digest, written through
// resumable ingests (containerd's model, see docs/format/content-layout.md).
//
// The interface is split by role so a caller takes the smallest one it
// needs: a reader of image documents takes a ContentProvider, a downloader a
// ContentIngester, the garbage collector the whole ContentStore.
//
// A blob becomes visible only when a writer commits it with the size and
// digest it was promised, so a lying or broken registry can never leave a
// blob whose name does not match its bytes.
#ifndef CRADLE_CONTENT_CONTENT_H_
#define CRADLE_CONTENT_CONTENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "digest/digest.h"

namespace cradle {

using Labels = std::map<std::string, std::string>;

// What a blob is expected to be (OCI descriptor, without platform).
struct Descriptor {
  std::string media_type;
  Digest digest = Digest::OfBytes("");
  int64_t size = -1;  // -1: unknown
  std::map<std::string, std::string> annotations;
  std::vector<std::string> urls;
};

// A committed blob.
struct ContentInfo {
  Digest digest = Digest::OfBytes("");
  int64_t size = 0;
  absl::Time created_at;  // commit time
  absl::Time updated_at;  // last label change (== created_at without labels)
  Labels labels;
};

// One ingest in progress.
struct IngestStatus {
  std::string ref;
  int64_t offset = 0;  // bytes held so far
  int64_t total = -1;  // expected size, -1 when unknown
  Digest expected = Digest::OfBytes("");
  absl::Time started_at;
  absl::Time updated_at;
};

// Selects blobs by label: every entry must match ("" as the value matches
// any value of a present key). Empty selects all.
struct ContentFilter {
  Labels labels;
  bool Matches(const ContentInfo& info) const {
    for (const auto& [key, value] : labels) {
      auto it = info.labels.find(key);
      if (it == info.labels.end()) return false;
      if (!value.empty() && it->second != value) return false;
    }
    return true;
  }
};

// Positional reads of one committed blob. Not thread-safe.
class BlobReader {
 public:
  BlobReader() = default;
  BlobReader(const BlobReader&) = delete;
  BlobReader& operator=(const BlobReader&) = delete;
  virtual ~BlobReader() = default;

  virtual int64_t size() const = 0;
  // Up to `n` bytes at `offset`; fewer only at the end of the blob.
  virtual absl::StatusOr<std::string> ReadAt(int64_t offset, size_t n) = 0;
  // A file descriptor of the blob owned by the reader (for libarchive and
  // sendfile; use pread, the position is shared). -1 when not file-backed.
  virtual int fd() const = 0;
};

// Read access to committed blobs. Thread-safe.
class ContentProvider {
 public:
  ContentProvider() = default;
  ContentProvider(const ContentProvider&) = delete;
  ContentProvider& operator=(const ContentProvider&) = delete;
  virtual ~ContentProvider() = default;

  // NotFound when the blob is not committed.
  virtual absl::StatusOr<ContentInfo> Info(const Digest& digest) = 0;
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> Open(
      const Digest& digest) = 0;
};

// One ingest in progress. Not thread-safe. Close (or destruction) without
// Commit keeps the bytes for a later writer of the same ref to resume.
class BlobWriter {
 public:
  BlobWriter() = default;
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;
  virtual ~BlobWriter() = default;

  // Appends. DataLoss (nothing written) when the ingest would grow past the
  // size it expects: a registry sending too much is caught early.
  virtual absl::Status Write(absl::string_view data) = 0;
  // Bytes held so far, including those of an earlier, resumed attempt.
  virtual int64_t offset() const = 0;
  // The digest of the bytes held so far.
  virtual Digest CurrentDigest() const = 0;
  // Makes the blob visible if it has `expected_size` bytes (-1: any) and the
  // `expected` digest. DataLoss on a mismatch, and the ingest is discarded:
  // bytes that failed verification are never resumed. AlreadyExists when
  // the blob was committed meanwhile (the ingest is discarded; callers
  // treat it as success). Unimplemented when `labels` is not empty and the
  // store keeps no labels.
  virtual absl::Status Commit(int64_t expected_size, const Digest& expected,
                              const Labels& labels) = 0;
  absl::Status Commit(int64_t expected_size, const Digest& expected) {
    return Commit(expected_size, expected, Labels());
  }
  // Releases the ingest, keeping its bytes. Idempotent; later calls other
  // than Close fail with FailedPrecondition.
  virtual absl::Status Close() = 0;
};

// Writes blobs. Thread-safe.
class ContentIngester {
 public:
  ContentIngester() = default;
  ContentIngester(const ContentIngester&) = delete;
  ContentIngester& operator=(const ContentIngester&) = delete;
  virtual ~ContentIngester() = default;

  // Opens the ingest `ref` for `expected` (digest required, size -1 when
  // unknown). An existing ingest of the same ref and digest is resumed at
  // its offset; one for another digest starts over. AlreadyExists when the
  // blob is already committed; Unavailable ("ref locked") while another
  // writer holds the same ref.
  virtual absl::StatusOr<std::unique_ptr<BlobWriter>> Writer(
      absl::string_view ref, const Descriptor& expected) = 0;
  absl::StatusOr<std::unique_ptr<BlobWriter>> Writer(absl::string_view ref,
                                                     int64_t expected_size,
                                                     const Digest& expected) {
    Descriptor desc;
    desc.digest = expected;
    desc.size = expected_size;
    return Writer(ref, desc);
  }
  virtual absl::StatusOr<std::vector<IngestStatus>> ListIngests() = 0;
  // NotFound when there is no such ingest.
  virtual absl::StatusOr<IngestStatus> Status(absl::string_view ref) = 0;
  // Drops an ingest. Idempotent; Unavailable while a writer holds it.
  virtual absl::Status Abort(absl::string_view ref) = 0;
};

// The whole store. Thread-safe.
class ContentStore : public ContentProvider, public ContentIngester {
 public:
  // Calls `fn` for each committed blob matching `filter`, stopping at the
  // first error, which it returns.
  virtual absl::Status Walk(
      const ContentFilter& filter,
      absl::FunctionRef<absl::Status(const ContentInfo&)> fn) = 0;
  absl::Status Walk(absl::FunctionRef<absl::Status(const ContentInfo&)> fn) {
    return Walk(ContentFilter(), fn);
  }
  // NotFound when the blob is not committed.
  virtual absl::Status Delete(const Digest& digest) = 0;
  // Sets the given labels, keeping the others; an empty value removes that
  // key. Returns the updated info. Unimplemented when the store keeps no
  // labels.
  virtual absl::StatusOr<ContentInfo> Update(const Digest& digest,
                                             const Labels& labels) = 0;
};

}  // namespace cradle

#endif  // CRADLE_CONTENT_CONTENT_H_
