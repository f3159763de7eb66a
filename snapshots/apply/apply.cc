#include "snapshots/apply/apply.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"

namespace cradle {
namespace {

constexpr char kWhiteoutPrefix[] = ".wh.";
constexpr char kOpaqueMarker[] = ".wh..wh..opq";

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens `path` (relative, clean) inside the tree at `root_fd`, as if the
// tree were "/": symlinks on the way resolve inside it.
int OpenInRoot(int root_fd, const std::string& path, int flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return static_cast<int>(syscall(SYS_openat2, root_fd,
                                  path.empty() ? "." : path.c_str(), &how,
                                  sizeof(how)));
}

// Splits a layer path into clean components; false if it climbs with "..".
bool CleanPath(const char* raw, std::vector<std::string>* parts) {
  parts->clear();
  for (absl::string_view c : absl::StrSplit(raw ? raw : "", '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") return false;
    parts->emplace_back(c);
  }
  return true;
}

class Applier {
 public:
  explicit Applier(const DirectApplier::Target& target) : target_(target) {}

  absl::Status Open() {
    root_ = Fd(open(target_.dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (root_.get() < 0) return Errno("open layer target " + target_.dir);
    for (const std::string& lower : target_.lower_dirs) {
      lowers_.emplace_back(
          open(lower.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    }
    return absl::OkStatus();
  }

  absl::Status Entry(archive* a, archive_entry* e) {
    entry_ = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    std::vector<std::string> parts;
    if (!CleanPath(archive_entry_pathname(e), &parts)) {
      return Hostile("path climbs out of the layer with \"..\"");
    }
    if (parts.empty()) return absl::OkStatus();  // the root itself
    std::string base = parts.back();
    parts.pop_back();
    std::string parent_path = absl::StrJoin(parts, "/");
    absl::StatusOr<Fd> parent = Parent(parent_path);
    if (!parent.ok()) return parent.status();
    int pfd = parent->get();
    std::string full = parent_path.empty() ? base : parent_path + "/" + base;

    if (base == kOpaqueMarker) return Opaque(pfd, parent_path);
    if (absl::StartsWith(base, kWhiteoutPrefix)) {
      return Whiteout(pfd, base.substr(sizeof(kWhiteoutPrefix) - 1));
    }
    written_.insert(full);

    mode_t type = archive_entry_filetype(e);
    const char* hardlink = archive_entry_hardlink(e);
    struct stat existing;
    bool exists =
        fstatat(pfd, base.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && !(hardlink == nullptr && type == AE_IFDIR &&
                    S_ISDIR(existing.st_mode))) {
      if (absl::Status s = RemoveAt(pfd, base); !s.ok()) return s;
    }
    if (hardlink != nullptr) return Hardlink(pfd, base, hardlink);
    switch (type) {
      case AE_IFDIR:
        if (!exists || !S_ISDIR(existing.st_mode)) {
          if (mkdirat(pfd, base.c_str(), 0700) != 0) return Errno("mkdir");
        }
        dirs_.push_back(
            {full, archive_entry_mtime_is_set(e) ? archive_entry_mtime(e) : 0,
             archive_entry_mtime_nsec(e)});
        break;
      case AE_IFREG:
        if (absl::Status s = RegularFile(a, pfd, base); !s.ok()) return s;
        break;
      case AE_IFLNK:
        if (symlinkat(archive_entry_symlink(e) ? archive_entry_symlink(e) : "",
                      pfd, base.c_str()) != 0) {
          return Errno("symlink");
        }
        break;
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO:
        if (mknodat(pfd, base.c_str(), type | (archive_entry_perm(e) & 07777),
                    archive_entry_rdev(e)) != 0) {
          return Errno("mknod");
        }
        break;
      default:
        return absl::OkStatus();  // sockets and unknown types are not content
    }
    return Metadata(e, pfd, base, type);
  }

  // Directory mtimes go last: creating their children changed them.
  absl::Status Finish() {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      Fd dir(
          OpenInRoot(root_.get(), it->path, O_PATH | O_DIRECTORY | O_NOFOLLOW));
      if (dir.get() < 0) continue;  // removed by a later entry
      timespec ts[2] = {{it->sec, it->nsec}, {it->sec, it->nsec}};
      utimensat(dir.get(), "", ts, AT_EMPTY_PATH);
    }
    return absl::OkStatus();
  }

 private:
  struct DirTime {
    std::string path;
    time_t sec;
    long nsec;
  };

  absl::Status Hostile(absl::string_view why) const {
    return absl::InvalidArgumentError(
        absl::StrCat("layer entry \"", entry_, "\": ", why));
  }
  absl::Status Errno(absl::string_view what) const {
    int err = errno;
    std::string message = absl::StrCat("layer entry \"", entry_, "\": ", what,
                                       ": ", strerror(err));
    if (err == ENOSPC || err == EDQUOT)
      return absl::ResourceExhaustedError(message);
    return absl::InternalError(message);
  }

  // The directory that holds an entry, created (copying a lower layer's
  // owner and mode when it has one) if this layer did not list it.
  absl::StatusOr<Fd> Parent(const std::string& path) {
    Fd fd(OpenInRoot(root_.get(), path, O_PATH | O_DIRECTORY));
    if (fd.get() >= 0) return fd;
    if (errno != ENOENT) return Errno("open parent directory");
    std::vector<std::string> parts = absl::StrSplit(path, '/');
    std::string sofar;
    for (const std::string& part : parts) {
      std::string next = sofar.empty() ? part : sofar + "/" + part;
      Fd dir(OpenInRoot(root_.get(), next, O_PATH | O_DIRECTORY));
      if (dir.get() < 0) {
        Fd up(OpenInRoot(root_.get(), sofar, O_PATH | O_DIRECTORY));
        if (up.get() < 0) return Errno("open parent directory");
        struct stat lower {};
        bool in_lower = LowerStat(next, &lower) && S_ISDIR(lower.st_mode);
        bool created = mkdirat(up.get(), part.c_str(),
                               in_lower ? (lower.st_mode & 07777) : 0755) == 0;
        if (!created && errno != EEXIST)
          return Errno("create parent directory");
        // Only a directory made just now gets the lower's owner and mode: an
        // existing name may be a symlink, which fchmodat would follow.
        if (created && in_lower) {
          fchownat(up.get(), part.c_str(), lower.st_uid, lower.st_gid,
                   AT_SYMLINK_NOFOLLOW);
          fchmodat(up.get(), part.c_str(), lower.st_mode & 07777, 0);
        }
        Fd check(OpenInRoot(root_.get(), next, O_PATH | O_DIRECTORY));
        if (check.get() < 0) {
          return Hostile(
              absl::StrCat("its parent \"", next,
                           "\" is not a directory inside the layer (a "
                           "symlink leading nowhere?)"));
        }
      }
      sofar = next;
    }
    Fd done(OpenInRoot(root_.get(), path, O_PATH | O_DIRECTORY));
    if (done.get() < 0) return Errno("open parent directory");
    return done;
  }

  // The newest lower layer's stat of `path`.
  bool LowerStat(const std::string& path, struct stat* st) {
    for (const Fd& lower : lowers_) {
      if (lower.get() < 0) continue;
      Fd f(OpenInRoot(lower.get(), path, O_PATH | O_NOFOLLOW));
      if (f.get() >= 0 && fstat(f.get(), st) == 0) return true;
    }
    return false;
  }

  absl::Status RemoveAt(int dirfd, const std::string& name) {
    if (unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT)
      return absl::OkStatus();
    if (errno != EISDIR && errno != EPERM) return Errno("remove " + name);
    Fd dir(openat(dirfd, name.c_str(),
                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (dir.get() < 0) return Errno("open " + name);
    if (absl::Status s = ClearDir(dir.get(), {}); !s.ok()) return s;
    if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0)
      return Errno("remove " + name);
    return absl::OkStatus();
  }

  // Removes every entry of the directory except the names in `keep`.
  absl::Status ClearDir(int dirfd, const std::set<std::string>& keep) {
    int dup_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    DIR* d = fdopendir(dup_fd);
    if (d == nullptr) {
      close(dup_fd);
      return Errno("read directory");
    }
    std::vector<std::string> names;
    while (dirent* de = readdir(d)) {
      std::string n = de->d_name;
      if (n != "." && n != ".." && keep.count(n) == 0) names.push_back(n);
    }
    closedir(d);
    for (const std::string& n : names) {
      if (absl::Status s = RemoveAt(dirfd, n); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Whiteout(int pfd, const std::string& victim) {
    if (victim.empty() || victim == "." || victim == "..")
      return Hostile("bad whiteout name");
    if (absl::Status s = RemoveAt(pfd, victim); !s.ok()) return s;
    if (target_.whiteouts == WhiteoutStyle::kOverlay &&
        mknodat(pfd, victim.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
      return Errno("create whiteout");
    }
    return absl::OkStatus();
  }

  absl::Status Opaque(int pfd, const std::string& dir_path) {
    if (target_.whiteouts == WhiteoutStyle::kOverlay) {
      Fd dir(openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (dir.get() < 0 ||
          fsetxattr(dir.get(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
        return Errno("mark directory opaque");
      }
      return absl::OkStatus();
    }
    // A full tree: drop what lower layers put here, keep this layer's own.
    std::set<std::string> keep;
    std::string prefix = dir_path.empty() ? "" : dir_path + "/";
    for (const std::string& w : written_) {
      if (!absl::StartsWith(w, prefix)) continue;
      std::string rest = w.substr(prefix.size());
      if (!rest.empty()) keep.insert(rest.substr(0, rest.find('/')));
    }
    Fd dir(openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) return Errno("open opaque directory");
    return ClearDir(dir.get(), keep);
  }

  absl::Status RegularFile(archive* a, int pfd, const std::string& base) {
    Fd out(openat(pfd, base.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (out.get() < 0) return Errno("create file");
    const void* buf;
    size_t size;
    la_int64_t offset;
    while (true) {
      int r = archive_read_data_block(a, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) return Hostile(archive_error_string(a));
      const char* p = static_cast<const char*>(buf);
      while (size > 0) {
        ssize_t w = pwrite(out.get(), p, size, offset);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return Errno("write file");
        p += w;
        offset += w;
        size -= w;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Hardlink(int pfd, const std::string& base,
                        const char* raw_target) {
    std::vector<std::string> parts;
    if (!CleanPath(raw_target, &parts) || parts.empty()) {
      return Hostile(absl::StrCat("hardlink target \"", raw_target,
                                  "\" leaves the layer"));
    }
    std::string target_base = parts.back();
    parts.pop_back();
    std::string target_parent = absl::StrJoin(parts, "/");
    std::string target_path = absl::StrJoin({target_parent, target_base}, "/");
    if (target_parent.empty()) target_path = target_base;
    Fd tdir(OpenInRoot(root_.get(), target_parent, O_PATH | O_DIRECTORY));
    struct stat st;
    bool here = tdir.get() >= 0 && fstatat(tdir.get(), target_base.c_str(), &st,
                                           AT_SYMLINK_NOFOLLOW) == 0;
    if (!here) {
      // The target is in a lower layer: copy it up, as overlayfs would.
      if (absl::Status s = CopyUp(target_path); !s.ok()) return s;
      absl::StatusOr<Fd> dir = Parent(target_parent);
      if (!dir.ok()) return dir.status();
      tdir = *std::move(dir);
    }
    if (linkat(tdir.get(), target_base.c_str(), pfd, base.c_str(), 0) != 0) {
      return Errno(absl::StrCat("hardlink to \"", raw_target, "\""));
    }
    return absl::OkStatus();
  }

  absl::Status CopyUp(const std::string& path) {
    for (const Fd& lower : lowers_) {
      if (lower.get() < 0) continue;
      Fd src(OpenInRoot(lower.get(), path, O_RDONLY | O_NOFOLLOW));
      struct stat st;
      if (src.get() < 0 || fstat(src.get(), &st) != 0) continue;
      if (!S_ISREG(st.st_mode))
        return Hostile("hardlink target in a lower layer is not a file");
      size_t slash = path.rfind('/');
      std::string parent =
          slash == std::string::npos ? "" : path.substr(0, slash);
      std::string name =
          slash == std::string::npos ? path : path.substr(slash + 1);
      absl::StatusOr<Fd> dir = Parent(parent);
      if (!dir.ok()) return dir.status();
      Fd dst(openat(dir->get(), name.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    st.st_mode & 07777));
      if (dst.get() < 0) return Errno("copy up " + path);
      char buf[1 << 16];
      ssize_t n;
      while ((n = read(src.get(), buf, sizeof(buf))) > 0) {
        if (write(dst.get(), buf, n) != n) return Errno("copy up " + path);
      }
      fchown(dst.get(), st.st_uid, st.st_gid);
      fchmod(dst.get(), st.st_mode & 07777);
      return absl::OkStatus();
    }
    return Hostile("hardlink target is neither in this layer nor below it");
  }

  absl::Status Metadata(archive_entry* e, int pfd, const std::string& base,
                        mode_t type) {
    if (fchownat(pfd, base.c_str(), archive_entry_uid(e), archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("chown");
    }
    // Mode after owner: chown clears set-id bits.
    if (type != AE_IFLNK &&
        fchmodat(pfd, base.c_str(), archive_entry_perm(e) & 07777, 0) != 0) {
      return Errno("chmod");
    }
    std::string via = absl::StrCat("/proc/self/fd/", pfd, "/", base);
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      // overlayfs's own attributes would let a layer redirect lookups.
      if (absl::StartsWith(name, "trusted.overlay.")) {
        LOG(WARNING) << "layer entry \"" << entry_ << "\": ignoring xattr "
                     << name;
        continue;
      }
      if (lsetxattr(via.c_str(), name, value, size, 0) != 0 &&
          errno != ENOTSUP) {
        return Errno(absl::StrCat("set xattr ", name));
      }
    }
    if (type != AE_IFDIR) {
      timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                        {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
      utimensat(pfd, base.c_str(), ts, AT_SYMLINK_NOFOLLOW);
    }
    return absl::OkStatus();
  }

  const DirectApplier::Target& target_;
  Fd root_;
  std::vector<Fd> lowers_;
  std::string entry_;
  std::set<std::string> written_;
  std::vector<DirTime> dirs_;
};

// The decompressed stream, hashed as the tar reader pulls it.
struct Decompressed {
  archive* raw = nullptr;
  Sha256Hasher hasher;
  int64_t size = 0;
  bool failed = false;
  bool padded = false;
};

la_ssize_t ReadDecompressed(archive*, void* data, const void** buf) {
  auto* d = static_cast<Decompressed*>(data);
  static thread_local char block[1 << 16];
  la_ssize_t n = archive_read_data(d->raw, block, sizeof(block));
  if (n < 0) {
    d->failed = true;
    return -1;
  }
  constexpr int64_t kTarBlock = 512;
  if (n == 0 && !d->padded && d->size % kTarBlock != 0) {
    // Some image builders end a layer right after the last file's data,
    // without the block padding (Go's tar reader accepts that). Supply
    // the zeros of that one block only: a layer cut inside a file's data
    // still fails. The diff id covers the stream as it came.
    d->padded = true;
    n = kTarBlock - d->size % kTarBlock;
    memset(block, 0, n);
    *buf = block;
    return n;
  }
  d->hasher.Update(block, n);
  d->size += n;
  *buf = block;
  return n;
}

}  // namespace

absl::StatusOr<ApplyResult> ApplyLayer(int fd,
                                       const DirectApplier::Target& target) {
  Decompressed d;
  d.raw = archive_read_new();
  archive_read_support_filter_all(d.raw);
  archive_read_support_format_raw(d.raw);
  archive* tar = archive_read_new();
  archive_read_support_format_tar(tar);
  auto cleanup = [&] {
    archive_read_free(tar);
    archive_read_free(d.raw);
  };
  archive_entry* raw_entry;
  if (archive_read_open_fd(d.raw, fd, 1 << 16) != ARCHIVE_OK ||
      archive_read_next_header(d.raw, &raw_entry) != ARCHIVE_OK) {
    absl::Status s = absl::InvalidArgumentError(absl::StrCat(
        "layer is not a readable stream: ", archive_error_string(d.raw)));
    cleanup();
    return s;
  }
  if (archive_read_open(tar, &d, nullptr, ReadDecompressed, nullptr) !=
      ARCHIVE_OK) {
    absl::Status s = absl::InvalidArgumentError(absl::StrCat(
        "layer is not a tar archive: ", archive_error_string(tar)));
    cleanup();
    return s;
  }
  Applier applier(target);
  if (absl::Status s = applier.Open(); !s.ok()) {
    cleanup();
    return s;
  }
  archive_entry* entry;
  int r;
  while ((r = archive_read_next_header(tar, &entry)) == ARCHIVE_OK ||
         r == ARCHIVE_WARN) {
    if (absl::Status s = applier.Entry(tar, entry); !s.ok()) {
      cleanup();
      return s;
    }
  }
  if (r != ARCHIVE_EOF || d.failed) {
    absl::Status s = absl::InvalidArgumentError(absl::StrCat(
        "layer is corrupt: ", archive_error_string(d.failed ? d.raw : tar)));
    cleanup();
    return s;
  }
  // The tar reader may stop at the end-of-archive blocks: hash the rest too.
  char rest[1 << 16];
  la_ssize_t n;
  while ((n = archive_read_data(d.raw, rest, sizeof(rest))) > 0) {
    d.hasher.Update(rest, n);
    d.size += n;
  }
  cleanup();
  if (n < 0) return absl::InvalidArgumentError("layer stream is truncated");
  if (absl::Status s = applier.Finish(); !s.ok()) return s;
  return ApplyResult{d.hasher.Current(), d.size};
}

}  // namespace cradle
