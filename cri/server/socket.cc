#include "cri/server/socket.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"

namespace cradle {
namespace {

std::string ErrnoText() { return strerror(errno); }

std::string ReadSmallFile(int fd) {
  char buf[64] = {};
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  return n > 0 ? std::string(buf, n) : std::string();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SocketOwnership>> SocketOwnership::Acquire(
    absl::string_view address) {
  std::string path(address);
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("create socket dir ", dir.string(), ": ", ec.message()));
  }
  std::string lock_path = path + ".lock";
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("open ", lock_path, ": ", ErrnoText()));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder(absl::StripAsciiWhitespace(ReadSmallFile(fd)));
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "another cradled",
          holder.empty() ? "" : absl::StrCat(" (pid ", holder, ")"),
          " is already serving ", path,
          "; stop it first or give this daemon another [grpc] address"));
    }
    return absl::InternalError(
        absl::StrCat("lock ", lock_path, ": ", strerror(err)));
  }
  std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    LOG(WARNING) << "cannot record pid in " << lock_path << ": " << ErrnoText();
  }
  // The lock proves no live daemon owns these names: whatever is left is stale.
  unlink(absl::StrCat(path, ".tmp").c_str());
  return std::unique_ptr<SocketOwnership>(
      new SocketOwnership(std::move(path), fd));
}

SocketOwnership::~SocketOwnership() { close(lock_fd_); }

absl::Status SocketOwnership::Publish(gid_t gid) {
  std::string tmp = TemporaryAddress();
  if (chown(tmp.c_str(), 0, gid) != 0) {
    return absl::InternalError(
        absl::StrCat("chown ", tmp, " to gid ", gid, ": ", ErrnoText()));
  }
  if (chmod(tmp.c_str(), 0660) != 0) {
    return absl::InternalError(
        absl::StrCat("chmod 0660 ", tmp, ": ", ErrnoText()));
  }
  if (rename(tmp.c_str(), address_.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("rename ", tmp, " to ", address_, ": ", ErrnoText()));
  }
  return absl::OkStatus();
}

void SocketOwnership::Withdraw() {
  if (unlink(address_.c_str()) != 0 && errno != ENOENT) {
    LOG(WARNING) << "remove socket " << address_ << ": " << ErrnoText();
  }
}

}  // namespace cradle
