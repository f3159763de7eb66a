#include "shim/log_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "lite/files.h"

namespace cradle::shim {

// By hand rather than with strftime or absl::FormatTime: neither time zones
// nor locales get linked into the static shim.
std::string CriLogTime(const timespec& t) {
  tm utc;
  time_t seconds = t.tv_sec;
  if (gmtime_r(&seconds, &utc) == nullptr) return "";
  char buf[64];
  int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                   utc.tm_min, utc.tm_sec, static_cast<long>(t.tv_nsec));
  return std::string(buf, n > 0 ? n : 0);
}

timespec CriLogWriter::RealtimeNow() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return now;
}

lite::StatusOr<std::unique_ptr<CriLogWriter>> CriLogWriter::Open(
    std::string path) {
  std::unique_ptr<CriLogWriter> writer(new CriLogWriter(std::move(path)));
  std::lock_guard<std::mutex> lock(writer->mu_);
  if (lite::Status s = writer->OpenFile(); !s.ok()) return s;
  return writer;
}

CriLogWriter::~CriLogWriter() {
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ >= 0) close(fd_);
}

lite::Status CriLogWriter::OpenFile() {
  if (path_.empty()) return lite::OkStatus();
  int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return lite::InternalError(
        lite::StrCat("open log ", path_, ": ", strerror(errno)));
  }
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  return lite::OkStatus();
}

lite::Status CriLogWriter::Reopen() {
  std::lock_guard<std::mutex> lock(mu_);
  return OpenFile();
}

void CriLogWriter::Emit(OutputStream stream, char tag, std::string_view text) {
  if (fd_ < 0) return;
  std::string record = lite::StrCat(
      CriLogTime(now_()),
      stream == OutputStream::kStdout ? " stdout " : " stderr ", tag, " ");
  record.append(text.data(), text.size());
  record.push_back('\n');
  // One write per record keeps records whole with O_APPEND; a failed write
  // (full disk) loses that record, never the container.
  (void)lite::WriteFully(fd_, record);
}

void CriLogWriter::Write(OutputStream stream, std::string_view data) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string& pending = pending_[static_cast<int>(stream)];
  while (!data.empty()) {
    size_t newline = data.find('\n');
    std::string_view piece =
        newline == std::string_view::npos ? data : data.substr(0, newline);
    pending.append(piece.data(), piece.size());
    data.remove_prefix(newline == std::string_view::npos ? data.size()
                                                         : newline + 1);
    // A line that outgrows the limit goes out in full-size partials.
    while (pending.size() > kMaxLine) {
      Emit(stream, 'P', std::string_view(pending).substr(0, kMaxLine));
      pending.erase(0, kMaxLine);
    }
    if (newline != std::string_view::npos) {
      Emit(stream, 'F', pending);
      pending.clear();
    }
  }
}

void CriLogWriter::Finish(OutputStream stream) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string& pending = pending_[static_cast<int>(stream)];
  if (!pending.empty()) Emit(stream, 'F', pending);
  pending.clear();
}

}  // namespace cradle::shim
