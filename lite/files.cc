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

int WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return errno;
  int err = 0;
  // Exactly `mode`, whatever the umask: cradled runs with 077, and files
  // shared with containers (resolv.conf, hosts) must stay readable.
  if (fchmod(fd, mode) != 0) err = errno;
  if (err == 0 && (!WriteFully(fd, data) || fsync(fd) != 0))
    err = errno ? errno : EIO;
  close(fd);
  if (err == 0 && rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) unlink(tmp.c_str());
  return err;
}

}  // namespace cradle::lite
