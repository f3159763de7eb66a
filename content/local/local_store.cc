#include "content/local/local_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "content/local/ingest.h"
#include "glog/logging.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;
using content_local::ErrnoError;

absl::Status NotFound(const Digest& d) {
  return absl::NotFoundError(
      absl::StrCat("content ", d.ToString(), " not found"));
}

class FileBlobReader : public BlobReader {
 public:
  FileBlobReader(int fd, int64_t size) : fd_(fd), size_(size) {}
  ~FileBlobReader() override { close(fd_); }
  int64_t size() const override { return size_; }
  int fd() const override { return fd_; }
  absl::StatusOr<std::string> ReadAt(int64_t offset, size_t n) override {
    if (offset < 0) return absl::InvalidArgumentError("negative offset");
    if (offset >= size_) return std::string();
    n = std::min<int64_t>(n, size_ - offset);
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

class LocalContentStore : public ContentStore {
 public:
  using ContentIngester::Writer;
  using ContentStore::Walk;

  explicit LocalContentStore(std::string root)
      : blob_dir_(root + "/blobs/sha256"), ingest_root_(root + "/ingest") {}

  absl::Status Init() {
    for (const std::string& dir : {blob_dir_, ingest_root_}) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) {
        return absl::InternalError(
            absl::StrCat("create ", dir, ": ", ec.message()));
      }
    }
    // An ingest directory without a readable description, or not named by
    // its ref, is what a crash during its creation leaves: nobody can
    // resume it by ref, so it goes.
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(ingest_root_, ec)) {
      absl::StatusOr<IngestStatus> ingest =
          content_local::ReadIngest(entry.path().string());
      if (ingest.ok() && IngestDir(ingest->ref) == entry.path().string())
        continue;
      LOG(WARNING) << "content: removing unusable ingest " << entry.path();
      std::error_code rm;
      fs::remove_all(entry.path(), rm);
    }
    if (ec) {
      return absl::InternalError(
          absl::StrCat("list ", ingest_root_, ": ", ec.message()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ContentInfo> Info(const Digest& digest) override {
    struct stat st;
    if (stat(BlobPath(digest).c_str(), &st) != 0) {
      if (errno == ENOENT) return NotFound(digest);
      return ErrnoError(absl::StrCat("stat content ", digest.ToString()),
                        errno);
    }
    ContentInfo info;
    info.digest = digest;
    info.size = st.st_size;
    info.created_at = absl::TimeFromTimespec(st.st_mtim);
    info.updated_at = info.created_at;
    return info;
  }

  absl::StatusOr<std::unique_ptr<BlobReader>> Open(
      const Digest& digest) override {
    int fd = open(BlobPath(digest).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return NotFound(digest);
      return ErrnoError(absl::StrCat("open content ", digest.ToString()),
                        errno);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
      int err = errno;
      close(fd);
      return ErrnoError(absl::StrCat("stat content ", digest.ToString()), err);
    }
    return std::unique_ptr<BlobReader>(new FileBlobReader(fd, st.st_size));
  }

  absl::Status Walk(
      const ContentFilter& filter,
      absl::FunctionRef<absl::Status(const ContentInfo&)> fn) override {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(blob_dir_, ec)) {
      absl::StatusOr<Digest> d =
          Digest::Parse("sha256:" + entry.path().filename().string());
      if (!d.ok()) continue;  // not a blob: leave it alone
      absl::StatusOr<ContentInfo> info = Info(*d);
      if (!info.ok()) continue;  // deleted meanwhile
      if (!filter.Matches(*info)) continue;
      if (absl::Status s = fn(*info); !s.ok()) return s;
    }
    if (ec) {
      return absl::InternalError(
          absl::StrCat("list ", blob_dir_, ": ", ec.message()));
    }
    return absl::OkStatus();
  }

  absl::Status Delete(const Digest& digest) override {
    if (unlink(BlobPath(digest).c_str()) != 0) {
      if (errno == ENOENT) return NotFound(digest);
      return ErrnoError(absl::StrCat("delete content ", digest.ToString()),
                        errno);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ContentInfo> Update(const Digest& digest,
                                     const Labels&) override {
    return absl::UnimplementedError(absl::StrCat(
        "update content ", digest.ToString(),
        ": the local content store keeps no labels (the metadata store does)"));
  }

  absl::StatusOr<std::unique_ptr<BlobWriter>> Writer(
      absl::string_view ref, const Descriptor& expected) override {
    if (ref.empty()) return absl::InvalidArgumentError("an ingest needs a ref");
    if (!Lock(ref)) {
      return absl::UnavailableError(
          absl::StrCat("ingest \"", ref, "\": ref locked by another writer"));
    }
    if (Info(expected.digest).ok()) {
      // Nothing left to download; an old ingest for it is dead weight.
      std::error_code ec;
      fs::remove_all(IngestDir(ref), ec);
      Unlock(ref);
      return absl::AlreadyExistsError(
          absl::StrCat("content ", expected.digest.ToString(), " exists"));
    }
    content_local::WriterParams params;
    params.ref = std::string(ref);
    params.dir = IngestDir(ref);
    params.blob_dir = blob_dir_;
    params.expected = expected;
    params.release = [this, r = std::string(ref)] { Unlock(r); };
    absl::StatusOr<std::unique_ptr<BlobWriter>> writer =
        content_local::OpenIngestWriter(std::move(params));
    if (!writer.ok()) {
      Unlock(ref);
      return absl::Status(writer.status().code(),
                          absl::StrCat("open ingest \"", ref,
                                       "\": ", writer.status().message()));
    }
    return writer;
  }

  absl::StatusOr<std::vector<IngestStatus>> ListIngests() override {
    std::vector<IngestStatus> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(ingest_root_, ec)) {
      absl::StatusOr<IngestStatus> ingest =
          content_local::ReadIngest(entry.path().string());
      if (ingest.ok()) out.push_back(*std::move(ingest));
    }
    if (ec) {
      return absl::InternalError(
          absl::StrCat("list ", ingest_root_, ": ", ec.message()));
    }
    return out;
  }

  absl::StatusOr<IngestStatus> Status(absl::string_view ref) override {
    absl::StatusOr<IngestStatus> ingest =
        content_local::ReadIngest(IngestDir(ref));
    if (!ingest.ok() || ingest->ref != ref) {
      return absl::NotFoundError(
          absl::StrCat("ingest \"", ref, "\" not found"));
    }
    return ingest;
  }

  absl::Status Abort(absl::string_view ref) override {
    if (!Lock(ref)) {
      return absl::UnavailableError(
          absl::StrCat("abort ingest \"", ref, "\": ref locked by a writer"));
    }
    std::error_code ec;
    fs::remove_all(IngestDir(ref), ec);
    Unlock(ref);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("abort ingest \"", ref, "\": ", ec.message()));
    }
    return absl::OkStatus();
  }

 private:
  std::string BlobPath(const Digest& d) const {
    return absl::StrCat(blob_dir_, "/", d.hex());
  }
  // Hashing the ref gives a fixed-length, path-safe directory name.
  std::string IngestDir(absl::string_view ref) const {
    return absl::StrCat(ingest_root_, "/", Digest::OfBytes(ref).hex());
  }
  bool Lock(absl::string_view ref) {
    absl::MutexLock lock(&mu_);
    return locked_.insert(std::string(ref)).second;
  }
  void Unlock(absl::string_view ref) {
    absl::MutexLock lock(&mu_);
    locked_.erase(std::string(ref));
  }

  const std::string blob_dir_;
  const std::string ingest_root_;
  absl::Mutex mu_;
  std::set<std::string> locked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<ContentStore>> OpenLocalContentStore(
    const std::string& root) {
  auto store = std::make_unique<LocalContentStore>(root);
  if (absl::Status s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<ContentStore>(std::move(store));
}

}  // namespace cradle
