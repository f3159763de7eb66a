// Writes a container's output in the CRI log format the kubelet reads:
//   <RFC 3339 time with nanoseconds> <stdout|stderr> <F|P> <text>\n
// "F" ends a line; a line longer than kMaxLine is cut into "P" (partial)
// records so one huge line cannot make the shim buffer without bound.
#ifndef CRADLE_SHIM_LOG_WRITER_H_
#define CRADLE_SHIM_LOG_WRITER_H_

#include <time.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "lite/status.h"

namespace cradle::shim {

enum class OutputStream { kStdout = 0, kStderr = 1 };

class CriLogWriter {
 public:
  static constexpr size_t kMaxLine = 16 * 1024;

  // Appends to `path` (created 0640); an empty path discards everything.
  static lite::StatusOr<std::unique_ptr<CriLogWriter>> Open(std::string path);
  ~CriLogWriter();

  // Feeds bytes as read from the container, in any chunking.
  void Write(OutputStream stream, std::string_view data);
  // The stream ended: a pending unterminated line is written as "F".
  void Finish(OutputStream stream);
  // Closes and reopens the file (after the kubelet rotated it).
  lite::Status Reopen();

  // Tests set the clock (CLOCK_REALTIME by default).
  void set_clock_for_test(timespec (*now)()) { now_ = now; }

 private:
  explicit CriLogWriter(std::string path) : path_(std::move(path)) {}
  static timespec RealtimeNow();
  lite::Status OpenFile();  // requires mu_
  void Emit(OutputStream stream, char tag,
            std::string_view text);  // requires mu_

  const std::string path_;
  timespec (*now_)() = RealtimeNow;
  std::mutex mu_;
  int fd_ = -1;             // guarded by mu_
  std::string pending_[2];  // guarded by mu_
};

// "2026-11-24T10:00:00.000000001Z": UTC, always nine fraction digits.
std::string CriLogTime(const timespec& t);

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_LOG_WRITER_H_
