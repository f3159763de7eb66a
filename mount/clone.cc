#include "mount/clone.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace cradle {
namespace {

// glibc 2.36 has no wrappers for these.
int OpenTree(int dirfd, const char* path, unsigned flags) {
  return static_cast<int>(syscall(SYS_open_tree, dirfd, path, flags));
}

int MountSetattr(int fd, unsigned flags, mount_attr* attr) {
  return static_cast<int>(
      syscall(SYS_mount_setattr, fd, "", flags, attr, sizeof(*attr)));
}

int MoveMount(int from_fd, const char* to_path) {
  return static_cast<int>(syscall(SYS_move_mount, from_fd, "", AT_FDCWD,
                                  to_path, MOVE_MOUNT_F_EMPTY_PATH));
}

absl::Status Failed(const char* step, absl::string_view path, int err) {
  std::string message = absl::StrCat(step, " ", path, ": ", strerror(err));
  // ENOSYS: an old kernel; EINVAL/EPERM/EOPNOTSUPP from mount_setattr: a
  // filesystem that cannot be idmapped. Neither is fixed by retrying.
  if (err == ENOSYS || err == EINVAL || err == EOPNOTSUPP || err == EPERM)
    return absl::FailedPreconditionError(message);
  return absl::InternalError(message);
}

}  // namespace

absl::Status MountClone(absl::string_view source_view,
                        absl::string_view target_view,
                        const CloneOptions& options) {
  std::string source(source_view), target(target_view);
  int tree = OpenTree(AT_FDCWD, source.c_str(),
                      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0) return Failed("clone the mounts of", source, errno);
  // Until move_mount attaches it, closing the fd drops the whole copy.
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{tree};
  if (options.userns_fd >= 0) {
    // An id map is set on the copy's top mount only: submounts of a host
    // path keep their owners (the kernel refuses a recursive idmap of a
    // tree whose submounts are already idmapped, and cradle never
    // promises more than the volume itself).
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(options.userns_fd);
    if (MountSetattr(tree, AT_EMPTY_PATH, &attr) != 0)
      return Failed("idmap the copy of", source, errno);
  }
  if (options.recursive_readonly) {
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (MountSetattr(tree, AT_EMPTY_PATH | AT_RECURSIVE, &attr) != 0)
      return Failed("make read-only the copy of", source, errno);
  }
  if (MoveMount(tree, target.c_str()) != 0)
    return Failed("attach the copy at", target, errno);
  return absl::OkStatus();
}

absl::Status ProbeRecursiveReadOnly(absl::string_view scratch_dir) {
  char tmpl[PATH_MAX];
  snprintf(tmpl, sizeof(tmpl), "%.*s/probe-XXXXXX",
           static_cast<int>(scratch_dir.size()), scratch_dir.data());
  if (mkdtemp(tmpl) == nullptr) {
    return absl::InternalError(
        absl::StrCat("mkdtemp in ", scratch_dir, ": ", strerror(errno)));
  }
  std::string dir = tmpl;
  std::string source = dir + "/source", copy = dir + "/copy";
  mkdir(source.c_str(), 0700);
  mkdir(copy.c_str(), 0700);
  CloneOptions options;
  options.recursive_readonly = true;
  absl::Status result = MountClone(source, copy, options);
  umount2(copy.c_str(), MNT_DETACH);
  rmdir(copy.c_str());
  rmdir(source.c_str());
  rmdir(dir.c_str());
  return result;
}

}  // namespace cradle
