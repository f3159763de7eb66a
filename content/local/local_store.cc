#include "content/local/local_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

absl::Status ErrnoError(absl::string_view what, int err) {
  std::string message = absl::StrCat(what, ": ", strerror(err));
  if (err == ENOSPC || err == EDQUOT)
    return absl::ResourceExhaustedError(message);
  if (err == ENOENT) return absl::NotFoundError(message);
  return absl::InternalError(message);
}

std::string ReadSmall(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(s.str()));
}

// Writes a small file and syncs it, so an ingest's metadata survives a crash.
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

absl::Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(absl::StrCat("open ", dir), errno);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  return rc == 0 ? absl::OkStatus()
                 : ErrnoError(absl::StrCat("fsync ", dir), err);
}

class FileBlobReader : public BlobReader {
 public:
  FileBlobReader(int fd, int64_t size) : fd_(fd), size_(size) {}
  ~FileBlobReader() override { close(fd_); }
  int64_t size() const override { return size_; }
  int fd() const override { return fd_; }
  absl::StatusOr<std::string> ReadAt(int64_t offset, size_t n) override {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = pread(fd_, out.data() + got, n - got, offset + got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoError("read blob", errno);
      if (r == 0) break;
      got += r;
    }
    out.resize(got);
    return out;
  }

 private:
  int fd_;
  int64_t size_;
};

class LocalContentStore;

class LocalBlobWriter : public BlobWriter {
 public:
  LocalBlobWriter(LocalContentStore* store, std::string ref, std::string dir,
                  int fd, int64_t offset, std::unique_ptr<Sha256Hasher> hasher)
      : store_(store),
        ref_(std::move(ref)),
        dir_(std::move(dir)),
        fd_(fd),
        offset_(offset),
        hasher_(std::move(hasher)) {}
  ~LocalBlobWriter() override;

  absl::Status Write(absl::string_view data) override {
    if (fd_ < 0)
      return absl::FailedPreconditionError("writer already committed");
    size_t done = 0;
    while (done < data.size()) {
      ssize_t w = write(fd_, data.data() + done, data.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoError(absl::StrCat("write ingest ", ref_), errno);
      done += w;
    }
    hasher_->Update(data.data(), data.size());
    offset_ += data.size();
    return absl::OkStatus();
  }

  int64_t offset() const override { return offset_; }
  absl::Status Commit(int64_t expected_size, const Digest& expected) override;

 private:
  LocalContentStore* store_;
  std::string ref_;
  std::string dir_;
  int fd_;
  int64_t offset_;
  std::unique_ptr<Sha256Hasher> hasher_;
};

class LocalContentStore : public ContentStore {
 public:
  explicit LocalContentStore(std::string root) : root_(std::move(root)) {}

  std::string BlobPath(const Digest& d) const {
    return absl::StrCat(root_, "/blobs/", d.algorithm(), "/", d.hex());
  }
  std::string IngestDir(absl::string_view ref) const {
    return absl::StrCat(root_, "/ingest/", Digest::OfBytes(ref).hex());
  }
  std::string BlobDir() const { return root_ + "/blobs/sha256"; }

  absl::StatusOr<BlobInfo> Info(const Digest& digest) override {
    struct stat st;
    if (stat(BlobPath(digest).c_str(), &st) != 0) {
      return absl::NotFoundError(
          absl::StrCat("content ", digest.ToString(), " not found"));
    }
    return BlobInfo{digest, st.st_size, absl::FromTimeT(st.st_mtime)};
  }

  absl::StatusOr<std::unique_ptr<BlobReader>> Open(
      const Digest& digest) override {
    int fd = open(BlobPath(digest).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) {
        return absl::NotFoundError(
            absl::StrCat("content ", digest.ToString(), " not found"));
      }
      return ErrnoError(absl::StrCat("open content ", digest.ToString()),
                        errno);
    }
    struct stat st;
    fstat(fd, &st);
    return std::unique_ptr<BlobReader>(new FileBlobReader(fd, st.st_size));
  }

  absl::Status Delete(const Digest& digest) override {
    if (unlink(BlobPath(digest).c_str()) != 0) {
      if (errno == ENOENT) {
        return absl::NotFoundError(
            absl::StrCat("content ", digest.ToString(), " not found"));
      }
      return ErrnoError(absl::StrCat("delete content ", digest.ToString()),
                        errno);
    }
    return absl::OkStatus();
  }

  absl::Status Walk(
      absl::FunctionRef<absl::Status(const BlobInfo&)> fn) override {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(BlobDir(), ec)) {
      absl::StatusOr<Digest> d =
          Digest::Parse("sha256:" + entry.path().filename().string());
      if (!d.ok()) continue;  // not ours: leave it alone
      absl::StatusOr<BlobInfo> info = Info(*d);
      if (!info.ok()) continue;  // deleted meanwhile
      if (absl::Status s = fn(*info); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<BlobWriter>> Writer(
      absl::string_view ref, int64_t expected_size,
      const Digest& expected) override {
    if (ref.empty()) return absl::InvalidArgumentError("an ingest needs a ref");
    if (Info(expected).ok()) {
      return absl::AlreadyExistsError(
          absl::StrCat("content ", expected.ToString(), " exists"));
    }
    {
      absl::MutexLock lock(&mu_);
      if (!active_.insert(std::string(ref)).second) {
        return absl::UnavailableError(
            absl::StrCat("ingest \"", ref, "\" is being written"));
      }
    }
    absl::StatusOr<std::unique_ptr<BlobWriter>> writer =
        OpenWriter(ref, expected_size, expected);
    if (!writer.ok()) Release(ref);
    return writer;
  }

  absl::StatusOr<std::vector<IngestInfo>> ListIngests() override {
    std::vector<IngestInfo> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_ + "/ingest", ec)) {
      std::string dir = entry.path().string();
      IngestInfo info;
      info.ref = ReadSmall(dir + "/ref");
      if (info.ref.empty()) continue;
      struct stat st;
      if (stat((dir + "/data").c_str(), &st) == 0) {
        info.offset = st.st_size;
        info.updated_at = absl::FromTimeT(st.st_mtime);
      }
      if (!absl::SimpleAtoi(ReadSmall(dir + "/total"), &info.expected_size)) {
        info.expected_size = -1;
      }
      info.expected_digest = ReadSmall(dir + "/expected");
      int64_t started = 0;
      if (absl::SimpleAtoi(ReadSmall(dir + "/startedat"), &started)) {
        info.started_at = absl::FromUnixNanos(started);
      }
      out.push_back(std::move(info));
    }
    return out;
  }

  absl::Status Abort(absl::string_view ref) override {
    {
      absl::MutexLock lock(&mu_);
      if (active_.count(std::string(ref)) > 0) {
        return absl::UnavailableError(
            absl::StrCat("ingest \"", ref, "\" is being written"));
      }
    }
    std::error_code ec;
    fs::remove_all(IngestDir(ref), ec);
    if (ec)
      return absl::InternalError(
          absl::StrCat("remove ingest ", ref, ": ", ec.message()));
    return absl::OkStatus();
  }

  void Release(absl::string_view ref) {
    absl::MutexLock lock(&mu_);
    active_.erase(std::string(ref));
  }

  absl::Status Init() {
    for (const std::string& dir : {BlobDir(), root_ + "/ingest"}) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec)
        return absl::InternalError(
            absl::StrCat("create ", dir, ": ", ec.message()));
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWriter(
      absl::string_view ref, int64_t expected_size, const Digest& expected) {
    std::string dir = IngestDir(ref);
    std::string data = dir + "/data";
    bool resume =
        fs::exists(data) && ReadSmall(dir + "/expected") == expected.ToString();
    if (!resume) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      fs::create_directories(dir, ec);
      if (ec)
        return absl::InternalError(
            absl::StrCat("create ingest ", dir, ": ", ec.message()));
      for (auto [name, value] :
           {std::pair<const char*, std::string>{"ref", std::string(ref)},
            {"total", absl::StrCat(expected_size)},
            {"expected", expected.ToString()},
            {"startedat", absl::StrCat(absl::ToUnixNanos(absl::Now()))}}) {
        if (absl::Status s = WriteSmall(dir + "/" + name, value); !s.ok())
          return s;
      }
    }
    int fd = open(data.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoError(absl::StrCat("open ingest ", data), errno);
    // Resuming: the hash of what is already there is rebuilt from the file,
    // never trusted from elsewhere.
    auto hasher = std::make_unique<Sha256Hasher>();
    int64_t offset = 0;
    char buf[1 << 16];
    ssize_t n;
    while ((n = pread(fd, buf, sizeof(buf), offset)) > 0) {
      hasher->Update(buf, n);
      offset += n;
    }
    if (expected_size >= 0 && offset > expected_size) {
      // More bytes than the blob has: garbage. Start over.
      if (ftruncate(fd, 0) != 0) {
        close(fd);
        return ErrnoError("truncate ingest", errno);
      }
      hasher = std::make_unique<Sha256Hasher>();
      offset = 0;
    }
    if (offset > 0) VLOG(1) << "ingest " << ref << " resumes at " << offset;
    return std::unique_ptr<BlobWriter>(new LocalBlobWriter(
        this, std::string(ref), dir, fd, offset, std::move(hasher)));
  }

  const std::string root_;
  absl::Mutex mu_;
  std::set<std::string> active_ ABSL_GUARDED_BY(mu_);
};

LocalBlobWriter::~LocalBlobWriter() {
  if (fd_ >= 0) close(fd_);
  store_->Release(ref_);
}

absl::Status LocalBlobWriter::Commit(int64_t expected_size,
                                     const Digest& expected) {
  if (fd_ < 0) return absl::FailedPreconditionError("writer already committed");
  auto discard = [&] {
    close(fd_);
    fd_ = -1;
    std::error_code ec;
    fs::remove_all(dir_, ec);
  };
  if (fsync(fd_) != 0)
    return ErrnoError(absl::StrCat("fsync ingest ", ref_), errno);
  if (offset_ != expected_size) {
    discard();
    return absl::DataLossError(
        absl::StrCat("content ", expected.ToString(), ": got ", offset_,
                     " bytes, expected ", expected_size));
  }
  Digest actual = hasher_->Current();
  if (actual != expected) {
    discard();
    return absl::DataLossError(
        absl::StrCat("content digest mismatch: expected ", expected.ToString(),
                     ", got ", actual.ToString()));
  }
  std::string target = store_->BlobPath(expected);
  if (access(target.c_str(), F_OK) == 0) {
    discard();
    return absl::AlreadyExistsError(
        absl::StrCat("content ", expected.ToString(), " exists"));
  }
  fchmod(fd_, 0444);
  close(fd_);
  fd_ = -1;
  if (rename((dir_ + "/data").c_str(), target.c_str()) != 0) {
    return ErrnoError(absl::StrCat("commit ", expected.ToString()), errno);
  }
  if (absl::Status s = SyncDir(store_->BlobDir()); !s.ok()) return s;
  std::error_code ec;
  fs::remove_all(dir_, ec);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ContentStore>> OpenLocalContentStore(
    const std::string& root) {
  auto store = std::make_unique<LocalContentStore>(root);
  if (absl::Status s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<ContentStore>(std::move(store));
}

}  // namespace cradle
