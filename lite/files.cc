#include "lite/files.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace cradle::lite {

std::string ReadFileOrEmpty(const std::string& path) {
  std::string text;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, n);
  }
  close(fd);
  return text;
}

namespace {

template <typename WriteSome>
bool Fully(std::string_view data, WriteSome write_some) {
  while (!data.empty()) {
    ssize_t n = write_some(data);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EPIPE;
      return false;
    }
    data.remove_prefix(n);
  }
  return true;
}

}  // namespace

bool WriteFully(int fd, std::string_view data) {
  return Fully(
      data, [fd](std::string_view d) { return write(fd, d.data(), d.size()); });
}

bool SendFully(int fd, std::string_view data) {
  return Fully(data, [fd](std::string_view d) {
    return send(fd, d.data(), d.size(), MSG_NOSIGNAL);
  });
}

int MakeDirs(const std::string& path) {
  if (path.empty()) return EINVAL;
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    std::string prefix = path.substr(0, slash);
    struct stat st;
    bool exists = stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (!exists && mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) {
      return errno;
    }
    if (slash == std::string::npos) return 0;
  }
}

int AtomicFile::Open(const std::string& path, int mode) {
  Abandon();
  path_ = path;
  tmp_ = path + ".tmp";
  fd_ = open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd_ < 0) return errno;
  // Exactly `mode`, whatever the umask: cradled runs with 077, and files
  // shared with containers (resolv.conf, hosts) must stay readable.
  if (fchmod(fd_, mode) != 0) {
    int err = errno;
    Abandon();
    return err;
  }
  return 0;
}

void AtomicFile::Abandon() {
  if (fd_ < 0) return;
  close(fd_);
  fd_ = -1;
  unlink(tmp_.c_str());
}

int AtomicFile::Commit() {
  if (fd_ < 0) return EBADF;
  int err = 0;
  if (fsync(fd_) != 0) err = errno;
  // close can report a write-back error fsync did not (NFS).
  if (close(fd_) != 0 && err == 0) err = errno;
  fd_ = -1;
  if (err == 0 && rename(tmp_.c_str(), path_.c_str()) != 0) err = errno;
  if (err != 0) {
    unlink(tmp_.c_str());
    return err;
  }
  // The rename lives in the directory: until that is synced a crash can
  // bring back the old file, or none.
  size_t slash = path_.rfind('/');
  std::string dir = slash == std::string::npos ? "."
                    : slash == 0               ? "/"
                                               : path_.substr(0, slash);
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return errno;
  // EINVAL: a file system that cannot sync directories (some FUSE ones),
  // where there is nothing more to do.
  if (fsync(dir_fd) != 0 && errno != EINVAL) err = errno;
  close(dir_fd);
  return err;
}

int WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  AtomicFile file;
  if (int err = file.Open(path, mode); err != 0) return err;
  if (!WriteFully(file.fd(), data)) return errno ? errno : EIO;
  return file.Commit();
}

}  // namespace cradle::lite
