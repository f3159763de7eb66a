// Writes a container's output in the CRI log format the kubelet reads:
//   <RFC 3339 time with nanoseconds> <stdout|stderr> <F|P> <text>\n
// "F" ends a line; a line longer than kMaxLine is cut into "P" (partial)
// records so one huge line cannot make the shim buffer without bound.
#ifndef CRADLE_SHIM_LOG_WRITER_H_
#define CRADLE_SHIM_LOG_WRITER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace cradle::shim {

enum class OutputStream { kStdout = 0, kStderr = 1 };

class CriLogWriter {
 public:
  static constexpr size_t kMaxLine = 16 * 1024;

  // Appends to `path` (created 0640); an empty path discards everything.
  static absl::StatusOr<std::unique_ptr<CriLogWriter>> Open(std::string path);
  ~CriLogWriter();

  // Feeds bytes as read from the container, in any chunking.
  void Write(OutputStream stream, absl::string_view data);
  // The stream ended: a pending unterminated line is written as "F".
  void Finish(OutputStream stream);
  // Closes and reopens the file (after the kubelet rotated it).
  absl::Status Reopen();

  // Tests set the clock.
  void set_clock_for_test(absl::Time (*now)()) { now_ = now; }

 private:
  explicit CriLogWriter(std::string path) : path_(std::move(path)) {}
  absl::Status OpenFile() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Emit(OutputStream stream, char tag, absl::string_view text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Time (*now_)() = absl::Now;
  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
  std::string pending_[2] ABSL_GUARDED_BY(mu_);
};

// "2026-11-24T10:00:00.000000001Z": UTC, always nine fraction digits.
std::string CriLogTime(absl::Time t);

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_LOG_WRITER_H_
