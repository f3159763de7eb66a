// What one layer costs while it is applied, against its ApplyLimits: the
// decompressed stream's size against the compressed one, the entries, and
// the free space left on the snapshot filesystem.
#ifndef CRADLE_SNAPSHOTS_APPLY_BUDGET_H_
#define CRADLE_SNAPSHOTS_APPLY_BUDGET_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "snapshots/apply/apply.h"

namespace cradle::apply_internal {

// Not thread-safe: one per ApplyLayer call.
class Budget {
 public:
  // `root_fd` is on the filesystem whose free space is watched.
  Budget(const ApplyLimits& limits, int64_t compressed_bytes, int root_fd)
      : limits_(limits), compressed_(compressed_bytes), root_fd_(root_fd) {}

  // The decompressed stream has reached `total` bytes. ResourceExhausted
  // once it passes the ratio (and the floor).
  absl::Status Expanded(int64_t total) const;
  // One more entry. ResourceExhausted past max_entries.
  absl::Status Entry();
  // `bytes` are about to be written under the root. ResourceExhausted when
  // the filesystem's free space is below the reserve.
  absl::Status Write(int64_t bytes);

 private:
  absl::Status CheckFreeSpace() const;

  ApplyLimits limits_;
  int64_t compressed_;
  int root_fd_;
  int64_t entries_ = 0;
  // Starts "due" so the first write checks.
  int64_t since_check_ = INT64_MAX / 2;
};

// The compression of the stream at offset `start` of `fd`, when it is one
// cradle refuses (bzip2, xz, ...); empty otherwise (and for a pipe).
std::string RefusedCompression(int fd, int64_t start);

}  // namespace cradle::apply_internal

#endif  // CRADLE_SNAPSHOTS_APPLY_BUDGET_H_
