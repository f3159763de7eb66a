#include "cri/runtime/checkpoint_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace cradle {
namespace {

namespace fs = std::filesystem;

// RFC 3339 in UTC with a "Z", as Go's time.Time marshals.
constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%E*SZ";

using ArchivePtr = std::unique_ptr<struct archive, int (*)(struct archive*)>;
using EntryPtr =
    std::unique_ptr<struct archive_entry, void (*)(struct archive_entry*)>;

absl::Status ArchiveError(struct archive* a, const std::string& what) {
  const char* why = archive_error_string(a);
  return absl::InternalError(
      absl::StrCat(what, ": ", why != nullptr ? why : "libarchive error"));
}

absl::Status ErrnoError(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

absl::Status WriteData(struct archive* a, const char* data, size_t size,
                       const std::string& name) {
  while (size > 0) {
    la_ssize_t n = archive_write_data(a, data, size);
    if (n < 0) return ArchiveError(a, "write " + name);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status AddBytes(struct archive* a, const std::string& name,
                      const std::string& data) {
  EntryPtr e(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0600);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  archive_entry_set_mtime(e.get(), time(nullptr), 0);
  if (archive_write_header(a, e.get()) != ARCHIVE_OK)
    return ArchiveError(a, "add " + name);
  return WriteData(a, data.data(), data.size(), name);
}

// One file system object, as lstat sees it, under `name`.
absl::Status AddPath(struct archive* a, const std::string& name,
                     const std::string& path, const struct stat& st) {
  EntryPtr e(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_copy_stat(e.get(), &st);
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    fs::path target = fs::read_symlink(path, ec);
    if (ec) return ErrnoError("readlink " + path, ec.value());
    archive_entry_set_symlink(e.get(), target.c_str());
  }
  if (!S_ISREG(st.st_mode)) archive_entry_set_size(e.get(), 0);
  if (archive_write_header(a, e.get()) != ARCHIVE_OK)
    return ArchiveError(a, "add " + name);
  if (!S_ISREG(st.st_mode)) return absl::OkStatus();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoError("open " + path, errno);
  absl::Cleanup close_fd = [fd] { close(fd); };
  char buf[64 * 1024];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    if (absl::Status s = WriteData(a, buf, static_cast<size_t>(n), name);
        !s.ok())
      return s;
  }
  if (n < 0) return ErrnoError("read " + path, errno);
  return absl::OkStatus();
}

// Everything below `dir` as `prefix`/<relative path>, in a stable order.
// With `deleted`, overlay whiteouts (0/0 character devices) are not
// archived but listed there, as paths from the root ("/etc/motd").
absl::Status AddTree(struct archive* a, const std::string& prefix,
                     const std::string& dir,
                     std::vector<std::string>* deleted) {
  std::error_code ec;
  std::vector<fs::path> paths;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    paths.push_back(it->path());
  }
  if (ec) return ErrnoError("walk " + dir, ec.value());
  std::sort(paths.begin(), paths.end());
  for (const fs::path& p : paths) {
    // Lexical: fs::relative would follow a symlink to its target.
    std::string relative = p.lexically_relative(dir).string();
    struct stat st;
    if (lstat(p.c_str(), &st) != 0)
      return ErrnoError("stat " + p.string(), errno);
    if (deleted != nullptr && S_ISCHR(st.st_mode) && st.st_rdev == 0) {
      deleted->push_back("/" + relative);
      continue;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
      continue;  // sockets, fifos and devices do not survive a restore
    std::string name = prefix.empty() ? relative : prefix + "/" + relative;
    if (absl::Status s = AddPath(a, name, p.string(), st); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status AddDir(struct archive* a, const std::string& name) {
  EntryPtr e(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFDIR);
  archive_entry_set_perm(e.get(), 0700);
  archive_entry_set_mtime(e.get(), time(nullptr), 0);
  if (archive_write_header(a, e.get()) != ARCHIVE_OK)
    return ArchiveError(a, "add " + name);
  return absl::OkStatus();
}

// A tar writer on `fd` (not closed by it).
absl::StatusOr<ArchivePtr> OpenTar(int fd, const std::string& path) {
  ArchivePtr a(archive_write_new(), archive_write_free);
  if (a == nullptr) return absl::InternalError("archive_write_new failed");
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_open_fd(a.get(), fd) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "open " + path);
  }
  return a;
}

absl::Status CloseTar(ArchivePtr a, const std::string& path) {
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return ArchiveError(a.get(), "finish " + path);
  return absl::OkStatus();
}

// rootfs-diff.tar of the upper dir, written to `path`; the whiteouts go
// to `deleted`.
absl::Status WriteRootfsDiff(const std::string& upper_dir,
                             const std::string& path,
                             std::vector<std::string>* deleted) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("create " + path, errno);
  absl::Cleanup close_fd = [fd] { close(fd); };
  absl::StatusOr<ArchivePtr> a = OpenTar(fd, path);
  if (!a.ok()) return a.status();
  if (absl::Status s = AddTree(a->get(), "", upper_dir, deleted); !s.ok())
    return s;
  return CloseTar(*std::move(a), path);
}

absl::Status WriteArchive(const CheckpointFiles& files, int fd,
                          const std::string& tmp) {
  absl::StatusOr<ArchivePtr> a = OpenTar(fd, tmp);
  if (!a.ok()) return a.status();
  if (absl::Status s = AddDir(a->get(), "checkpoint"); !s.ok()) return s;
  if (absl::Status s =
          AddTree(a->get(), "checkpoint", files.criu_images_dir, nullptr);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = AddBytes(a->get(), "config.dump", files.config_dump);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = AddBytes(a->get(), "spec.dump", files.spec_dump);
      !s.ok()) {
    return s;
  }
  if (!files.upper_dir.empty()) {
    // Beside CRIU's files in the work dir, which the caller removes.
    std::string diff = files.work_dir + "/rootfs-diff.tar";
    std::vector<std::string> deleted;
    if (absl::Status s = WriteRootfsDiff(files.upper_dir, diff, &deleted);
        !s.ok()) {
      return s;
    }
    struct stat st;
    if (stat(diff.c_str(), &st) != 0) return ErrnoError("stat " + diff, errno);
    if (absl::Status s = AddPath(a->get(), "rootfs-diff.tar", diff, st);
        !s.ok()) {
      return s;
    }
    if (!deleted.empty()) {
      if (absl::Status s = AddBytes(a->get(), "deleted.files",
                                    nlohmann::json(deleted).dump());
          !s.ok()) {
        return s;
      }
    }
  }
  for (const char* name : {"dump.log", "stats-dump"}) {
    std::string path = files.work_dir + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (absl::Status s = AddPath(a->get(), name, path, st); !s.ok()) return s;
  }
  return CloseTar(*std::move(a), tmp);
}

}  // namespace

absl::Status WriteCheckpointArchive(const CheckpointFiles& files,
                                    const std::string& location) {
  std::string tmp = location + ".tmp-XXXXXX";
  int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoError("create " + tmp, errno);
  bool done = false;
  absl::Cleanup cleanup = [&] {
    if (fd >= 0) close(fd);
    if (!done) unlink(tmp.c_str());
  };
  if (absl::Status s = WriteArchive(files, fd, tmp); !s.ok()) return s;
  if (fsync(fd) != 0) return ErrnoError("sync " + tmp, errno);
  if (close(fd) != 0) {
    fd = -1;
    return ErrnoError("close " + tmp, errno);
  }
  fd = -1;
  if (rename(tmp.c_str(), location.c_str()) != 0)
    return ErrnoError("rename to " + location, errno);
  done = true;
  return absl::OkStatus();
}

std::string CheckpointConfigDump(const CriContainer& c,
                                 const std::string& runtime_name,
                                 absl::Time checkpointed_at) {
  return nlohmann::json{
      {"id", c.id},
      {"name", c.name},
      {"rootfsImage", c.image_id},
      {"rootfsImageRef", c.image_ref},
      {"rootfsImageName", c.image_name},
      {"runtime", runtime_name},
      {"createdTime",
       absl::FormatTime(kTimeFormat, c.created_at, absl::UTCTimeZone())},
      {"checkpointedTime",
       absl::FormatTime(kTimeFormat, checkpointed_at, absl::UTCTimeZone())}}
      .dump();
}

}  // namespace cradle
