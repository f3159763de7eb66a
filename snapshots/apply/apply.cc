#include "snapshots/apply/apply.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
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
#include "snapshots/apply/budget.h"
#include "snapshots/apply/paths.h"

namespace cradle {
namespace {

using apply_internal::Budget;
using apply_internal::CleanPath;
using apply_internal::Fd;
using apply_internal::kMaxPathBytes;
using apply_internal::OpenInRoot;

constexpr char kWhiteoutPrefix[] = ".wh.";
constexpr char kOpaqueMarker[] = ".wh..wh..opq";

class Applier {
 public:
  explicit Applier(const DirectApplier::Target& target) : target_(target) {}

  // Opens the target and its lower layers (one fd each, so bounded).
  absl::Status Open(const ApplyLimits& limits) {
    root_ = Fd(open(target_.dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (root_.get() < 0) return Errno("open layer target " + target_.dir);
    int64_t layers = static_cast<int64_t>(target_.lower_dirs.size()) + 1;
    if (limits.max_layers > 0 && layers > limits.max_layers) {
      return absl::ResourceExhaustedError(
          absl::StrCat("layer is layer ", layers, " of its image; at most ",
                       limits.max_layers, " are allowed (images.max_layers)"));
    }
    for (const std::string& lower : target_.lower_dirs) {
      lowers_.emplace_back(
          open(lower.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    }
    return absl::OkStatus();
  }

  // The root's fd, for the free-space checks.
  int root_fd() const { return root_.get(); }

  absl::Status Entry(archive* a, archive_entry* e, Budget& budget) {
    const char* raw =
        archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    size_t raw_len = strlen(raw);
    // Error messages quote the entry: keep them readable.
    entry_ = raw_len > 256 ? absl::StrCat(absl::string_view(raw, 256), "...")
                           : std::string(raw);
    budget_ = &budget;
    if (absl::Status s = budget.Entry(); !s.ok()) return s;
    // Each entry costs at least its header block on disk (an inode).
    if (absl::Status s = budget.Write(512); !s.ok()) return s;
    const char* link = archive_entry_hardlink(e)  ? archive_entry_hardlink(e)
                       : archive_entry_symlink(e) ? archive_entry_symlink(e)
                                                  : "";
    if (raw_len > kMaxPathBytes || strlen(link) > kMaxPathBytes) {
      return Hostile(absl::StrCat("path or link target longer than ",
                                  kMaxPathBytes, " bytes"));
    }
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
    if (err == ENAMETOOLONG) return absl::InvalidArgumentError(message);
    return absl::InternalError(message);
  }

  // The directory that holds an entry, created (with a lower layer's owner
  // and mode when it has one, else root's 0755) if this layer did not list
  // it.
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
        bool created = mkdirat(up.get(), part.c_str(), 0700) == 0;
        if (!created && errno != EEXIST)
          return Errno("create parent directory");
        // Only a directory made just now gets an owner and mode: an existing
        // name may be a symlink, which fchmodat would follow. The mode is
        // set explicitly because cradled's umask would cut mkdirat's.
        if (created) {
          if (in_lower && fchownat(up.get(), part.c_str(), lower.st_uid,
                                   lower.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
            return Errno("chown parent directory");
          }
          // Mode after owner: chown clears set-id bits.
          mode_t mode = in_lower ? (lower.st_mode & 07777) : 0755;
          if (fchmodat(up.get(), part.c_str(), mode, 0) != 0)
            return Errno("chmod parent directory");
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
      if (absl::Status s = budget_->Write(size); !s.ok()) return s;
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

  // Copies a lower layer's `path` into this layer, as overlayfs would before
  // linking to it. The lower file is only ever opened with O_PATH until it
  // is known to be a regular file: a FIFO would block, a device node would
  // open the host's device.
  absl::Status CopyUp(const std::string& path) {
    for (const Fd& lower : lowers_) {
      if (lower.get() < 0) continue;
      Fd src(OpenInRoot(lower.get(), path, O_PATH | O_NOFOLLOW));
      struct stat st;
      if (src.get() < 0 || fstat(src.get(), &st) != 0) continue;
      // A whiteout in a newer layer hides the older layers' file.
      if (target_.whiteouts == WhiteoutStyle::kOverlay && S_ISCHR(st.st_mode) &&
          st.st_rdev == makedev(0, 0)) {
        break;
      }
      if (S_ISDIR(st.st_mode))
        return Hostile("hardlink target in a lower layer is a directory");
      size_t slash = path.rfind('/');
      std::string parent =
          slash == std::string::npos ? "" : path.substr(0, slash);
      std::string name =
          slash == std::string::npos ? path : path.substr(slash + 1);
      absl::StatusOr<Fd> dir = Parent(parent);
      if (!dir.ok()) return dir.status();
      if (absl::Status s = CopyNode(src.get(), st, dir->get(), name); !s.ok())
        return Annotated(s, "copy up " + path);
      if (fchownat(dir->get(), name.c_str(), st.st_uid, st.st_gid,
                   AT_SYMLINK_NOFOLLOW) != 0) {
        return Errno("copy up " + path + ": chown");
      }
      // Mode after owner: chown clears set-id bits. fchmodat follows
      // symlinks, and a symlink has no mode of its own.
      if (!S_ISLNK(st.st_mode) &&
          fchmodat(dir->get(), name.c_str(), st.st_mode & 07777, 0) != 0) {
        return Errno("copy up " + path + ": chmod");
      }
      timespec ts[2] = {st.st_atim, st.st_mtim};
      utimensat(dir->get(), name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
      return absl::OkStatus();
    }
    return Hostile("hardlink target is neither in this layer nor below it");
  }

  absl::Status Annotated(const absl::Status& s, absl::string_view what) const {
    return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
  }

  // Recreates the node `src` (an O_PATH fd, stat `st`) as `name` in `dir`:
  // special files by mknod, symlinks by their target, regular files by
  // their data with the holes kept as holes.
  absl::Status CopyNode(int src, const struct stat& st, int dir,
                        const std::string& name) {
    if (S_ISLNK(st.st_mode)) {
      char to[kMaxPathBytes + 1];
      ssize_t n = readlinkat(src, "", to, sizeof(to));
      if (n < 0 || n > static_cast<ssize_t>(kMaxPathBytes))
        return Errno("read symlink");
      to[n] = '\0';
      if (symlinkat(to, dir, name.c_str()) != 0) return Errno("symlink");
      return absl::OkStatus();
    }
    if (!S_ISREG(st.st_mode)) {
      if (mknodat(dir, name.c_str(), st.st_mode & (S_IFMT | 07777),
                  st.st_rdev) != 0) {
        return Errno("mknod");
      }
      return absl::OkStatus();
    }
    // A regular file (checked on the pinned inode): reopening it for
    // reading has no side effects.
    Fd in(open(absl::StrCat("/proc/self/fd/", src).c_str(),
               O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (in.get() < 0) return Errno("open");
    Fd out(openat(dir, name.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (out.get() < 0) return Errno("create");
    return CopyData(in.get(), out.get(), st.st_size);
  }

  // Copies the data extents of `in` only, so a sparse file stays sparse.
  absl::Status CopyData(int in, int out, off_t size) {
    char buf[1 << 16];
    off_t pos = 0;
    while (pos < size) {
      off_t data = lseek(in, pos, SEEK_DATA);
      if (data < 0 && errno == ENXIO) break;  // only a hole is left
      off_t hole = data < 0 ? size : lseek(in, data, SEEK_HOLE);
      if (data < 0) data = pos;  // no SEEK_DATA here: copy it all
      if (hole < 0) return Errno("seek");
      for (off_t off = data; off < hole;) {
        size_t want = static_cast<size_t>(
            std::min<off_t>(static_cast<off_t>(sizeof(buf)), hole - off));
        ssize_t n = pread(in, buf, want, off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Errno("read");
        if (n == 0) return absl::OkStatus();  // shorter than it said
        if (absl::Status s = budget_->Write(n); !s.ok()) return s;
        for (ssize_t done = 0; done < n;) {
          ssize_t w = pwrite(out, buf + done, n - done, off + done);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) return Errno("write");
          done += w;
        }
        off += n;
      }
      pos = hole;
    }
    if (ftruncate(out, size) != 0) return Errno("truncate");
    return absl::OkStatus();
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
  Budget* budget_ = nullptr;  // the current entry's
  std::set<std::string> written_;
  std::vector<DirTime> dirs_;
};

// The decompressed stream, hashed and measured as the tar reader pulls it.
struct Decompressed {
  archive* raw = nullptr;
  Budget* budget = nullptr;
  Sha256Hasher hasher;
  int64_t size = 0;
  bool failed = false;
  bool padded = false;
  absl::Status limit;  // why the stream was cut off, if a limit did
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
  if (absl::Status s = d->budget->Expanded(d->size); !s.ok()) {
    d->limit = s;
    d->failed = true;
    return -1;
  }
  *buf = block;
  return n;
}

// Only the layer media types' own compressions, and only built in:
// libarchive's other filters include ones that run external programs.
absl::Status SupportLayerFilters(archive* a) {
  if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
      archive_read_support_filter_zstd(a) != ARCHIVE_OK) {
    return absl::FailedPreconditionError(
        "this libarchive has no built-in gzip or zstd (it would run an "
        "external program): rebuild it with zlib and libzstd");
  }
  return absl::OkStatus();
}

// The layer's size from `start` on (0 when it is not a file).
int64_t CompressedSize(int fd, off_t start) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  return st.st_size - (start > 0 ? start : 0);
}

absl::StatusOr<ApplyResult> Apply(int fd, const DirectApplier::Target& target,
                                  const ApplyLimits& limits, archive* raw,
                                  archive* tar) {
  Decompressed d;
  d.raw = raw;
  if (absl::Status s = SupportLayerFilters(raw); !s.ok()) return s;
  archive_read_support_format_raw(raw);
  archive_read_support_format_tar(tar);
  Applier applier(target);
  if (absl::Status s = applier.Open(limits); !s.ok()) return s;
  off_t start = lseek(fd, 0, SEEK_CUR);  // -1 for a pipe
  Budget budget(limits, CompressedSize(fd, start), applier.root_fd());
  d.budget = &budget;
  archive_entry* raw_entry;
  if (archive_read_open_fd(raw, fd, 1 << 16) != ARCHIVE_OK ||
      archive_read_next_header(raw, &raw_entry) != ARCHIVE_OK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer is not a readable stream: ", archive_error_string(raw)));
  }
  if (archive_read_open(tar, &d, nullptr, ReadDecompressed, nullptr) !=
      ARCHIVE_OK) {
    if (!d.limit.ok()) return d.limit;
    std::string other = apply_internal::RefusedCompression(fd, start);
    if (!other.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layer is compressed with ", other,
          "; only gzip, zstd and uncompressed layers are accepted"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "layer is not a tar archive: ", archive_error_string(tar)));
  }
  archive_entry* entry;
  int r;
  while ((r = archive_read_next_header(tar, &entry)) == ARCHIVE_OK ||
         r == ARCHIVE_WARN) {
    if (absl::Status s = applier.Entry(tar, entry, budget); !s.ok()) {
      return d.limit.ok() ? s : d.limit;
    }
  }
  if (!d.limit.ok()) return d.limit;
  if (r != ARCHIVE_EOF || d.failed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer is corrupt: ", archive_error_string(d.failed ? raw : tar)));
  }
  // The tar reader may stop at the end-of-archive blocks: hash the rest too
  // (bounded like the rest: a bomb can hide after the end blocks).
  char rest[1 << 16];
  la_ssize_t n;
  while ((n = archive_read_data(raw, rest, sizeof(rest))) > 0) {
    d.hasher.Update(rest, n);
    d.size += n;
    if (absl::Status s = budget.Expanded(d.size); !s.ok()) return s;
  }
  if (n < 0) return absl::InvalidArgumentError("layer stream is truncated");
  if (absl::Status s = applier.Finish(); !s.ok()) return s;
  return ApplyResult{d.hasher.Current(), d.size};
}

}  // namespace

absl::StatusOr<ApplyResult> ApplyLayer(int fd,
                                       const DirectApplier::Target& target,
                                       const ApplyLimits& limits) {
  archive* raw = archive_read_new();
  archive* tar = archive_read_new();
  absl::StatusOr<ApplyResult> result = Apply(fd, target, limits, raw, tar);
  archive_read_free(tar);
  archive_read_free(raw);
  return result;
}

}  // namespace cradle
