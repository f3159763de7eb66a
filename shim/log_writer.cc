#include "shim/log_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace cradle::shim {

std::string CriLogTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<std::unique_ptr<CriLogWriter>> CriLogWriter::Open(
    std::string path) {
  std::unique_ptr<CriLogWriter> writer(new CriLogWriter(std::move(path)));
  absl::MutexLock lock(&writer->mu_);
  if (absl::Status s = writer->OpenFile(); !s.ok()) return s;
  return writer;
}

CriLogWriter::~CriLogWriter() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) close(fd_);
}

absl::Status CriLogWriter::OpenFile() {
  if (path_.empty()) return absl::OkStatus();
  int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("open log ", path_, ": ", strerror(errno)));
  }
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  return absl::OkStatus();
}

absl::Status CriLogWriter::Reopen() {
  absl::MutexLock lock(&mu_);
  return OpenFile();
}

void CriLogWriter::Emit(OutputStream stream, char tag, absl::string_view text) {
  if (fd_ < 0) return;
  std::string record =
      absl::StrCat(CriLogTime(now_()),
                   stream == OutputStream::kStdout ? " stdout " : " stderr ",
                   std::string(1, tag), " ");
  record.append(text.data(), text.size());
  record.push_back('\n');
  // One write per record keeps records whole with O_APPEND; a failed write
  // (full disk) loses that record, never the container.
  size_t done = 0;
  while (done < record.size()) {
    ssize_t n = write(fd_, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += n;
  }
}

void CriLogWriter::Write(OutputStream stream, absl::string_view data) {
  absl::MutexLock lock(&mu_);
  std::string& pending = pending_[static_cast<int>(stream)];
  while (!data.empty()) {
    size_t newline = data.find('\n');
    absl::string_view piece =
        newline == absl::string_view::npos ? data : data.substr(0, newline);
    pending.append(piece.data(), piece.size());
    data.remove_prefix(newline == absl::string_view::npos ? data.size()
                                                          : newline + 1);
    // A line that outgrows the limit goes out in full-size partials.
    while (pending.size() > kMaxLine) {
      Emit(stream, 'P', absl::string_view(pending).substr(0, kMaxLine));
      pending.erase(0, kMaxLine);
    }
    if (newline != absl::string_view::npos) {
      Emit(stream, 'F', pending);
      pending.clear();
    }
  }
}

void CriLogWriter::Finish(OutputStream stream) {
  absl::MutexLock lock(&mu_);
  std::string& pending = pending_[static_cast<int>(stream)];
  if (!pending.empty()) Emit(stream, 'F', pending);
  pending.clear();
}

}  // namespace cradle::shim
