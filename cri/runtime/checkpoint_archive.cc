#include "cri/runtime/checkpoint_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "lite/files.h"
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

// What a file the running container removed between the walk and the
// copy yields: NotFound, which AddTree skips.
absl::Status PathError(const std::string& what, int err) {
  if (err == ENOENT) return absl::NotFoundError(absl::StrCat(what, ": gone"));
  return ErrnoError(what, err);
}

// JSON text that cannot throw: names come from images and containers and
// need not be UTF-8; invalid bytes become U+FFFD, as Go's encoder (CRI-O's,
// checkpointctl's) does.
std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status WriteData(struct archive* a, const char* data, size_t size,
                       const std::string& name) {
  while (size > 0) {
    la_ssize_t n = archive_write_data(a, data, size);
    if (n < 0) return ArchiveError(a, "write " + name);
    // libarchive takes nothing past the size the header declared; looping
    // on 0 would never end.
    if (n == 0) {
      return absl::InternalError(
          absl::StrCat("write ", name, ": more data than its header declared"));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Exactly `size` bytes of `fd` (the size the entry's header declared) into
// the entry. The container keeps running during the dump, so the file may
// have grown since lstat (the excess is left out) or shrunk (zeros fill in:
// a short entry would shift every entry after it).
absl::Status CopyData(struct archive* a, int fd, int64_t size,
                      const std::string& name, const std::string& path) {
  char buf[64 * 1024];
  bool at_end = false;
  while (size > 0) {
    size_t want = static_cast<size_t>(
        std::min<int64_t>(size, static_cast<int64_t>(sizeof(buf))));
    ssize_t n = 0;
    if (!at_end) {
      n = read(fd, buf, want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError("read " + path, errno);
      at_end = n == 0;
    }
    if (at_end) {
      memset(buf, 0, want);
      n = static_cast<ssize_t>(want);
    }
    if (absl::Status s = WriteData(a, buf, static_cast<size_t>(n), name);
        !s.ok()) {
      return s;
    }
    size -= n;
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

// One file system object, as lstat sees it, under `name`. NotFound when
// it is gone by now: nothing was added then.
absl::Status AddPath(struct archive* a, const std::string& name,
                     const std::string& path, const struct stat& st) {
  EntryPtr e(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_copy_stat(e.get(), &st);
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    fs::path target = fs::read_symlink(path, ec);
    if (ec) return PathError("readlink " + path, ec.value());
    archive_entry_set_symlink(e.get(), target.c_str());
  }
  int fd = -1;
  absl::Cleanup close_fd = [&fd] {
    if (fd >= 0) close(fd);
  };
  if (S_ISREG(st.st_mode)) {
    // Opened before the header goes out, so a file gone by now can still
    // be skipped. O_NONBLOCK: were a fifo put in its place, open must not
    // wait for a writer.
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return PathError("open " + path, errno);
    struct stat now;
    if (fstat(fd, &now) != 0) return ErrnoError("stat " + path, errno);
    if (!S_ISREG(now.st_mode)) {
      return absl::NotFoundError(
          absl::StrCat(path, ": no longer a regular file"));
    }
  } else {
    archive_entry_set_size(e.get(), 0);
  }
  // ARCHIVE_WARN: a name (or link target) that is not text in the locale;
  // the entry is written all the same, its name as raw bytes, as tar does.
  if (archive_write_header(a, e.get()) < ARCHIVE_WARN)
    return ArchiveError(a, "add " + name);
  if (fd < 0) return absl::OkStatus();
  return CopyData(a, fd, st.st_size, name, path);
}

// Every path below `dir` into `paths`, each directory's entries sorted
// and followed by their contents. A directory below `dir` that is gone by
// the time it is read (the container keeps running) is left out. Each
// directory is closed before its subdirectories are read: a deep tree
// must not use up the fds.
absl::Status Walk(const fs::path& dir, bool top, std::vector<fs::path>* paths) {
  std::vector<std::pair<fs::path, bool>> entries;  // path, is a directory
  {
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    if (ec) {
      if (!top && (ec == std::errc::no_such_file_or_directory ||
                   ec == std::errc::not_a_directory)) {
        return absl::OkStatus();
      }
      return ErrnoError("walk " + dir.string(), ec.value());
    }
    for (; !ec && it != end; it.increment(ec)) {
      // symlink_status (from readdir's d_type, mostly): a link to a
      // directory is archived as the link, not followed.
      std::error_code type_ec;
      entries.emplace_back(it->path(), it->symlink_status(type_ec).type() ==
                                           fs::file_type::directory);
    }
    if (ec) return ErrnoError("walk " + dir.string(), ec.value());
  }
  std::sort(entries.begin(), entries.end());
  for (const auto& [p, is_dir] : entries) {
    paths->push_back(p);
    if (!is_dir) continue;
    if (absl::Status s = Walk(p, false, paths); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Everything below `dir` as `prefix`/<relative path>, in a stable order.
// With `deleted`, overlay whiteouts (0/0 character devices) are not
// archived but listed there, as paths from the root ("/etc/motd").
absl::Status AddTree(struct archive* a, const std::string& prefix,
                     const std::string& dir,
                     std::vector<std::string>* deleted) {
  std::vector<fs::path> paths;
  if (absl::Status s = Walk(dir, true, &paths); !s.ok()) return s;
  for (const fs::path& p : paths) {
    // Lexical: fs::relative would follow a symlink to its target.
    std::string relative = p.lexically_relative(dir).string();
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed since the walk
      return ErrnoError("stat " + p.string(), errno);
    }
    if (deleted != nullptr && S_ISCHR(st.st_mode) && st.st_rdev == 0) {
      deleted->push_back("/" + relative);
      continue;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
      continue;  // sockets, fifos and devices do not survive a restore
    std::string name = prefix.empty() ? relative : prefix + "/" + relative;
    absl::Status s = AddPath(a, name, p.string(), st);
    if (absl::IsNotFound(s)) continue;  // removed since the lstat
    if (!s.ok()) return s;
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
      if (absl::Status s =
              AddBytes(a->get(), "deleted.files", DumpJson(deleted));
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
  std::string tmp = location + ".tmp";
  lite::AtomicFile file;  // removes the temporary unless committed
  if (int err = file.Open(location, 0600); err != 0)
    return ErrnoError("create " + tmp, err);
  if (absl::Status s = WriteArchive(files, file.fd(), tmp); !s.ok()) return s;
  if (int err = file.Commit(); err != 0)
    return ErrnoError("put " + tmp + " in place", err);
  return absl::OkStatus();
}

std::string CheckpointConfigDump(const CriContainer& c,
                                 const std::string& runtime_name,
                                 absl::Time checkpointed_at) {
  return DumpJson(nlohmann::json{
      {"id", c.id},
      {"name", c.name},
      {"rootfsImage", c.image_id},
      {"rootfsImageRef", c.image_ref},
      {"rootfsImageName", c.image_name},
      {"runtime", runtime_name},
      {"createdTime",
       absl::FormatTime(kTimeFormat, c.created_at, absl::UTCTimeZone())},
      {"checkpointedTime",
       absl::FormatTime(kTimeFormat, checkpointed_at, absl::UTCTimeZone())}});
}

}  // namespace cradle
