#include "shim/stdio.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lite/status.h"

namespace cradle::shim {
namespace {

std::string Errno() { return strerror(errno); }

}  // namespace

ProcessIo::~ProcessIo() {
  for (int fd : {stdin_fd, stdout_fd, stderr_fd, master}) {
    if (fd >= 0) close(fd);
  }
}

void ProcessIo::CloseStdin() {
  if (stdin_fd >= 0) close(stdin_fd);
  stdin_fd = -1;
}

lite::Status MakePipes(bool with_stdin, ProcessIo* io, Stdio* runc_side) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    return lite::InternalError("pipe: " + Errno());
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return lite::InternalError("pipe: " + Errno());
  }
  io->stdout_fd = out[0];
  io->stderr_fd = err[0];
  runc_side->out = out[1];
  runc_side->err = err[1];
  if (with_stdin) {
    int in[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
      close(out[1]);
      close(err[1]);
      return lite::InternalError("pipe: " + Errno());
    }
    io->stdin_fd = in[1];
    runc_side->in = in[0];
  }
  return lite::OkStatus();
}

lite::StatusOr<std::unique_ptr<ConsoleSocket>> ConsoleSocket::Listen() {
  std::unique_ptr<ConsoleSocket> s(new ConsoleSocket());
  // A short directory of its own: socket paths are limited to 108 bytes and
  // the pod's state dir is already long.
  char dir[] = "/tmp/cradle-console-XXXXXX";
  if (mkdtemp(dir) == nullptr)
    return lite::InternalError("console socket dir: " + Errno());
  s->dir_ = dir;
  s->path_ = s->dir_ + "/s";
  s->listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listener_ < 0) return lite::InternalError("socket: " + Errno());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, s->path_.c_str(), sizeof(addr.sun_path) - 1);
  if (bind(s->listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
          0 ||
      listen(s->listener_, 1) != 0) {
    return lite::InternalError("console socket: " + Errno());
  }
  return s;
}

ConsoleSocket::~ConsoleSocket() {
  if (listener_ >= 0) close(listener_);
  if (!path_.empty()) unlink(path_.c_str());
  if (!dir_.empty()) rmdir(dir_.c_str());
}

lite::StatusOr<int> ConsoleSocket::ReceiveMaster() {
  pollfd p{listener_, POLLIN, 0};
  if (poll(&p, 1, 30000) <= 0)
    return lite::DeadlineExceededError("runc sent no terminal");
  int conn = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return lite::InternalError("accept console: " + Errno());
  char data[256];
  iovec iov{data, sizeof(data)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  close(conn);
  cmsghdr* c = n > 0 ? CMSG_FIRSTHDR(&msg) : nullptr;
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS)
    return lite::InternalError("runc sent no terminal fd");
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(fd));
  return fd;
}

void ConsoleSocket::Abandon() {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
  (void)connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  close(fd);
}

void ResizeTerminal(int master, unsigned width, unsigned height) {
  if (master < 0 || width == 0 || height == 0) return;
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(width);
  ws.ws_row = static_cast<unsigned short>(height);
  ioctl(master, TIOCSWINSZ, &ws);
}

}  // namespace cradle::shim
