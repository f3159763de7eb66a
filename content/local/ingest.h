// Internal to the local store: one ingest directory on disk and the writer
// that appends to it and commits it into blobs/.
#ifndef CRADLE_CONTENT_LOCAL_INGEST_H_
#define CRADLE_CONTENT_LOCAL_INGEST_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "content/content.h"

namespace cradle::content_local {

absl::Status ErrnoError(absl::string_view what, int err);
// fsyncs a directory so a rename or unlink inside it survives a crash.
absl::Status SyncDir(const std::string& dir);

// Reads an ingest directory's small files. NotFound when `dir` holds no
// usable ingest (missing or unreadable `ref`, `expected` or `data`).
absl::StatusOr<IngestStatus> ReadIngest(const std::string& dir);

struct WriterParams {
  std::string ref;
  std::string dir;       // <root>/ingest/<sha256 of ref>
  std::string blob_dir;  // <root>/blobs/sha256
  Descriptor expected;
  // Called once when the writer lets go of the ref (commit, close, abort).
  std::function<void()> release;
};

// Opens the ingest in `params.dir`: resumes it when it is for the same ref,
// digest and size, after re-hashing the bytes already there; starts it over
// otherwise (also when `data` is longer than the expected size).
absl::StatusOr<std::unique_ptr<BlobWriter>> OpenIngestWriter(
    WriterParams params);

}  // namespace cradle::content_local

#endif  // CRADLE_CONTENT_LOCAL_INGEST_H_
