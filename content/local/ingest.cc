#include "content/local/ingest.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"

namespace cradle::content_local {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> ReadSmall(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(s.str()));
}

// Small files are synced so an ingest's description survives a crash.
absl::Status WriteSmall(const std::string& path, absl::string_view data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError(absl::StrCat("create ", path), errno);
  bool ok = write(fd, data.data(), data.size()) ==
                static_cast<ssize_t>(data.size()) &&
            fsync(fd) == 0;
  int err = errno;
  close(fd);
  return ok ? absl::OkStatus() : ErrnoError(absl::StrCat("write ", path), err);
}

absl::Time ReadTime(const std::string& path) {
  int64_t ns = 0;
  std::optional<std::string> text = ReadSmall(path);
  if (!text || !absl::SimpleAtoi(*text, &ns)) return absl::InfinitePast();
  return absl::FromUnixNanos(ns);
}

class LocalBlobWriter : public BlobWriter {
 public:
  using BlobWriter::Commit;

  LocalBlobWriter(WriterParams params, int fd, int64_t offset,
                  std::unique_ptr<Sha256Hasher> hasher)
      : p_(std::move(params)),
        fd_(fd),
        offset_(offset),
        hasher_(std::move(hasher)) {}
  ~LocalBlobWriter() override { (void)Close(); }

  absl::Status Write(absl::string_view data) override {
    if (fd_ < 0) return Closed();
    if (p_.expected.size >= 0 &&
        offset_ + static_cast<int64_t>(data.size()) > p_.expected.size) {
      return absl::DataLossError(
          absl::StrCat("content ", p_.expected.digest.ToString(), ": ",
                       offset_ + data.size(),
                       " bytes is more than the expected ", p_.expected.size));
    }
    size_t done = 0;
    while (done < data.size()) {
      ssize_t w =
          pwrite(fd_, data.data() + done, data.size() - done, offset_ + done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        int err = errno;
        // Drop the partial write so the file matches offset_ and the hash.
        if (ftruncate(fd_, offset_) != 0) {
          LOG(WARNING) << "ingest " << p_.ref
                       << ": cannot drop a partial write";
        }
        return ErrnoError(absl::StrCat("write ingest ", p_.ref), err);
      }
      done += w;
    }
    hasher_->Update(data.data(), data.size());
    offset_ += data.size();
    return absl::OkStatus();
  }

  int64_t offset() const override { return offset_; }
  Digest CurrentDigest() const override { return hasher_->Current(); }

  absl::Status Commit(int64_t expected_size, const Digest& expected,
                      const Labels& labels) override;

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    // Best effort: updatedat is informational (ListIngests uses mtime too).
    (void)WriteSmall(p_.dir + "/updatedat",
                     absl::StrCat(absl::ToUnixNanos(absl::Now())));
    close(fd_);
    fd_ = -1;
    Release();
    return absl::OkStatus();
  }

 private:
  absl::Status Closed() const {
    return absl::FailedPreconditionError(
        absl::StrCat("ingest ", p_.ref, " is closed"));
  }
  void Release() {
    if (p_.release) p_.release();
    p_.release = nullptr;
  }
  // Ends the ingest for good: bytes that failed verification, or a blob
  // that exists already, are never resumed.
  void Discard() {
    close(fd_);
    fd_ = -1;
    std::error_code ec;
    fs::remove_all(p_.dir, ec);
    Release();
  }

  WriterParams p_;
  int fd_;
  int64_t offset_;
  std::unique_ptr<Sha256Hasher> hasher_;
};

absl::Status LocalBlobWriter::Commit(int64_t expected_size,
                                     const Digest& expected,
                                     const Labels& labels) {
  if (fd_ < 0) return Closed();
  if (!labels.empty()) {
    return absl::UnimplementedError(
        "the local content store keeps no labels (the metadata store does)");
  }
  if (expected != p_.expected.digest) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ingest ", p_.ref, " is for ", p_.expected.digest.ToString(), ", not ",
        expected.ToString()));
  }
  if (fsync(fd_) != 0)
    return ErrnoError(absl::StrCat("fsync ingest ", p_.ref), errno);
  for (int64_t want : {expected_size, p_.expected.size}) {
    if (want >= 0 && offset_ != want) {
      Discard();
      return absl::DataLossError(absl::StrCat("content ", expected.ToString(),
                                              ": got ", offset_,
                                              " bytes, expected ", want));
    }
  }
  Digest actual = hasher_->Current();
  if (actual != expected) {
    Discard();
    return absl::DataLossError(
        absl::StrCat("content digest mismatch: expected ", expected.ToString(),
                     ", got ", actual.ToString()));
  }
  // The commit time is the blob's mtime (the data file's is the last write).
  struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  if (fchmod(fd_, 0444) != 0 || futimens(fd_, now) != 0)
    return ErrnoError(absl::StrCat("commit ", expected.ToString()), errno);
  std::string data = p_.dir + "/data";
  std::string target = absl::StrCat(p_.blob_dir, "/", expected.hex());
  // NOREPLACE: of two writers of the same digest exactly one publishes.
  int rc = renameat2(AT_FDCWD, data.c_str(), AT_FDCWD, target.c_str(),
                     RENAME_NOREPLACE);
  if (rc != 0 && errno == EINVAL) {
    // No renameat2 on this file system: link(2) also refuses to replace.
    rc = link(data.c_str(), target.c_str());
  }
  if (rc != 0) {
    int err = errno;
    if (err == EEXIST) {
      Discard();
      return absl::AlreadyExistsError(
          absl::StrCat("content ", expected.ToString(), " exists"));
    }
    return ErrnoError(absl::StrCat("commit ", expected.ToString()), err);
  }
  absl::Status synced = SyncDir(p_.blob_dir);
  Discard();
  VLOG(1) << "content " << expected.ToString() << " committed (" << offset_
          << " bytes, ingest " << p_.ref << ")";
  return synced;
}

}  // namespace

absl::Status ErrnoError(absl::string_view what, int err) {
  std::string message = absl::StrCat(what, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == ENOSPC || err == EDQUOT) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

absl::Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(absl::StrCat("open ", dir), errno);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  return rc == 0 ? absl::OkStatus()
                 : ErrnoError(absl::StrCat("fsync ", dir), err);
}

absl::StatusOr<IngestStatus> ReadIngest(const std::string& dir) {
  std::optional<std::string> ref = ReadSmall(dir + "/ref");
  std::optional<std::string> expected = ReadSmall(dir + "/expected");
  std::optional<std::string> total = ReadSmall(dir + "/total");
  struct stat st;
  absl::StatusOr<Digest> digest = Digest::Parse(expected.value_or(""));
  IngestStatus status;
  if (!ref || ref->empty() || !digest.ok() || !total ||
      !absl::SimpleAtoi(*total, &status.total) ||
      stat((dir + "/data").c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("no usable ingest in ", dir));
  }
  status.ref = *ref;
  status.expected = *digest;
  status.offset = st.st_size;
  status.started_at = ReadTime(dir + "/startedat");
  status.updated_at = std::max(absl::TimeFromTimespec(st.st_mtim),
                               ReadTime(dir + "/updatedat"));
  return status;
}

absl::StatusOr<std::unique_ptr<BlobWriter>> OpenIngestWriter(
    WriterParams params) {
  const std::string& dir = params.dir;
  const Descriptor& want = params.expected;
  absl::StatusOr<IngestStatus> existing = ReadIngest(dir);
  bool resume = existing.ok() && existing->ref == params.ref &&
                existing->expected == want.digest &&
                existing->total == want.size;
  if (!resume) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("create ingest ", dir, ": ", ec.message()));
    }
    // `ref` is written first and `data` last: a directory missing either is
    // recognisably incomplete and is started over.
    for (auto [name, value] :
         {std::pair<const char*, std::string>{"ref", params.ref},
          {"total", absl::StrCat(want.size)},
          {"expected", want.digest.ToString()},
          {"startedat", absl::StrCat(absl::ToUnixNanos(absl::Now()))}}) {
      if (absl::Status s = WriteSmall(dir + "/" + name, value); !s.ok())
        return s;
    }
  }
  std::string data = dir + "/data";
  int fd = open(data.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError(absl::StrCat("open ingest ", data), errno);
  // The hash of what is already there is rebuilt from the file, never
  // trusted from elsewhere: garbled bytes then fail the digest check.
  auto hasher = std::make_unique<Sha256Hasher>();
  int64_t offset = 0;
  std::string buf(1 << 16, '\0');
  while (true) {
    ssize_t n = pread(fd, buf.data(), buf.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return ErrnoError(absl::StrCat("read ingest ", data), err);
    }
    if (n == 0) break;
    hasher->Update(buf.data(), n);
    offset += n;
  }
  if (want.size >= 0 && offset > want.size) {
    LOG(WARNING) << "ingest " << params.ref << " holds " << offset
                 << " bytes, more than the expected " << want.size
                 << "; starting over";
    if (ftruncate(fd, 0) != 0) {
      int err = errno;
      close(fd);
      return ErrnoError(absl::StrCat("truncate ingest ", data), err);
    }
    hasher = std::make_unique<Sha256Hasher>();
    offset = 0;
  }
  if (offset > 0) {
    VLOG(1) << "ingest " << params.ref << " resumes at " << offset;
  }
  return std::unique_ptr<BlobWriter>(
      new LocalBlobWriter(std::move(params), fd, offset, std::move(hasher)));
}

}  // namespace cradle::content_local
