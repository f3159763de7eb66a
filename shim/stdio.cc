#include "shim/stdio.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include "lite/status.h"

namespace cradle::shim {
namespace {

std::string Errno() { return strerror(errno); }

// Waits of the copiers are sliced this fine, so Stop and destruction are
// noticed within it.
constexpr int kSliceMillis = 200;
// Output still in the pipes after the process exits is copied this long.
constexpr int64_t kOutputDrainMillis = 2000;

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A path from a containerd client's stdio field: "file://" is stripped;
// other schemes (binary://, a logging plugin) are not supported.
lite::StatusOr<std::string> StdioPath(const std::string& uri) {
  constexpr std::string_view kFile = "file://";
  if (uri.compare(0, kFile.size(), kFile) == 0) return uri.substr(kFile.size());
  if (uri.find("://") != std::string::npos) {
    return lite::InvalidArgumentError(lite::StrCat(
        "stdio \"", uri, "\": only FIFOs and file:// paths are supported"));
  }
  return uri;
}

bool IsFifo(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

// An output destination, non-blocking (the copier waits in slices).
lite::StatusOr<int> OpenOutput(const std::string& uri) {
  lite::StatusOr<std::string> path = StdioPath(uri);
  if (!path.ok()) return path.status();
  // Read-write: opening never waits for a reader, and writes never fail
  // with EPIPE while the client is away; they wait once the FIFO is full.
  int fd =
      IsFifo(*path)
          ? open(path->c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC)
          : open(path->c_str(),
                 O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0640);
  if (fd < 0) {
    return lite::InvalidArgumentError(
        lite::StrCat("cannot open stdio ", *path, ": ", Errno()));
  }
  return fd;
}

lite::StatusOr<int> OpenInput(const std::string& uri) {
  lite::StatusOr<std::string> path = StdioPath(uri);
  if (!path.ok()) return path.status();
  // Non-blocking: the open does not wait for the client's writer. The
  // writer closing is the end of input, as with containerd's shim (ctr
  // closes its end at its stdin's end, and may not call CloseIO when that
  // comes before the task exists). Until a writer has come, poll reports
  // nothing (Linux reports no hangup on a FIFO never written to).
  int fd = open(path->c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return lite::InvalidArgumentError(
        lite::StrCat("cannot open stdin ", *path, ": ", Errno()));
  }
  return fd;
}

void CloseAll(std::initializer_list<int> fds) {
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
}

}  // namespace

lite::StatusOr<std::unique_ptr<StdinCopier>> StdinCopier::Start(
    int source, int pipe_writer) {
  std::unique_ptr<StdinCopier> c(new StdinCopier(source, pipe_writer));
  fcntl(pipe_writer, F_SETFL, fcntl(pipe_writer, F_GETFL) | O_NONBLOCK);
  try {
    c->thread_ = std::thread([raw = c.get()] {
      try {
        raw->Run();
      } catch (...) {
        // Out of memory: the process loses its input, nothing else.
      }
    });
  } catch (const std::system_error& e) {
    return lite::Status(lite::StatusCode::kResourceExhausted,
                        lite::StrCat("no thread for stdin: ", e.what()));
  }
  return c;
}

StdinCopier::~StdinCopier() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  CloseAll({source_, sink_});
}

void StdinCopier::Run() {
  char buf[16 * 1024];
  while (!stop_ && !close_requested_ && sink_ >= 0) {
    pollfd p{source_, POLLIN, 0};
    if (poll(&p, 1, kSliceMillis) <= 0) continue;
    ssize_t n = read(source_, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // the writer or the file ended: so does the input
    for (ssize_t done = 0; done < n && !stop_ && !close_requested_;) {
      ssize_t w = write(sink_, buf + done, n - done);
      if (w > 0) {
        done += w;
      } else if (w < 0 && errno == EAGAIN) {
        pollfd out{sink_, POLLOUT, 0};
        poll(&out, 1, kSliceMillis);
      } else if (!(w < 0 && errno == EINTR)) {
        close_requested_ = true;  // the process closed its stdin
      }
    }
  }
  if (sink_ >= 0) close(sink_);
  sink_ = -1;
}

lite::StatusOr<std::unique_ptr<OutputCopier>> OutputCopier::Start(
    int out_source, int out_sink, int err_source, int err_sink) {
  std::unique_ptr<OutputCopier> c(
      new OutputCopier(out_source, out_sink, err_source, err_sink));
  try {
    c->thread_ = std::thread([raw = c.get()] {
      try {
        raw->Run();
      } catch (...) {
        // Out of memory: the client loses output; the sinks close below.
      }
    });
  } catch (const std::system_error& e) {
    return lite::Status(lite::StatusCode::kResourceExhausted,
                        lite::StrCat("no thread for output: ", e.what()));
  }
  return c;
}

OutputCopier::~OutputCopier() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  CloseAll({source_[0], source_[1], sink_[0], sink_[1]});
}

void OutputCopier::ProcessExited() {
  int64_t none = 0;
  exited_at_ms_.compare_exchange_strong(none, SteadyMillis());
}

bool OutputCopier::stopping() {
  if (stop_) return true;
  int64_t exited = exited_at_ms_;
  return exited != 0 && SteadyMillis() - exited > kOutputDrainMillis;
}

void OutputCopier::Write(int i, const char* data, size_t size) {
  while (size > 0 && sink_[i] >= 0 && !stopping()) {
    ssize_t w = write(sink_[i], data, size);
    if (w > 0) {
      data += w;
      size -= w;
    } else if (w < 0 && errno == EAGAIN) {
      pollfd p{sink_[i], POLLOUT, 0};
      poll(&p, 1, kSliceMillis);
    } else if (!(w < 0 && errno == EINTR)) {
      close(sink_[i]);  // a file that takes no more: output is dropped
      sink_[i] = -1;
    }
  }
}

void OutputCopier::Run() {
  char buf[32 * 1024];
  while (!stopping()) {
    pollfd p[2];
    int which[2];
    int n = 0;
    for (int i = 0; i < 2; ++i) {
      if (source_[i] >= 0) {
        which[n] = i;
        p[n++] = {source_[i], POLLIN, 0};
      }
    }
    if (n == 0) break;
    if (poll(p, n, kSliceMillis) <= 0) continue;
    for (int k = 0; k < n; ++k) {
      if (p[k].revents == 0) continue;
      int i = which[k];
      ssize_t r = read(source_[i], buf, sizeof(buf));
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) {
        // The client's reader sees the end once no writer is left.
        close(source_[i]);
        source_[i] = -1;
        if (sink_[i] >= 0) close(sink_[i]);
        sink_[i] = -1;
        continue;
      }
      Write(i, buf, r);
    }
  }
  // Ended early (stop, or a grandchild holding the pipe): the client's
  // readers must still see their streams end.
  for (int i = 0; i < 2; ++i) {
    if (sink_[i] >= 0) close(sink_[i]);
    sink_[i] = -1;
  }
}

lite::Status OpenPathStdio(const std::string& stdin_path,
                           const std::string& stdout_path,
                           const std::string& stderr_path, ProcessIo* io,
                           Stdio* runc_side) {
  // What is opened stays in these until it has an owner, so an error
  // return closes what was made.
  int sources[2] = {-1, -1};
  int sinks[2] = {-1, -1};
  auto fail = [&](const lite::Status& s) {
    CloseAll({sources[0], sources[1], sinks[0], sinks[1], runc_side->out,
              runc_side->err});
    runc_side->out = runc_side->err = -1;
    return s;
  };
  const std::string* paths[2] = {&stdout_path, &stderr_path};
  int* runc_ends[2] = {&runc_side->out, &runc_side->err};
  for (int i = 0; i < 2; ++i) {
    if (paths[i]->empty()) continue;  // /dev/null
    lite::StatusOr<int> sink = OpenOutput(*paths[i]);
    if (!sink.ok()) return fail(sink.status());
    sinks[i] = *sink;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
      return fail(lite::InternalError("pipe: " + Errno()));
    sources[i] = p[0];
    *runc_ends[i] = p[1];
  }
  if (sinks[0] >= 0 || sinks[1] >= 0) {
    lite::StatusOr<std::unique_ptr<OutputCopier>> copier =
        OutputCopier::Start(sources[0], sinks[0], sources[1], sinks[1]);
    // Start took them, whatever its outcome.
    sources[0] = sources[1] = sinks[0] = sinks[1] = -1;
    if (!copier.ok()) return fail(copier.status());
    io->output_copier = std::move(*copier);
  }
  if (!stdin_path.empty()) {
    lite::StatusOr<int> source = OpenInput(stdin_path);
    if (!source.ok()) return fail(source.status());
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      close(*source);
      return fail(lite::InternalError("pipe: " + Errno()));
    }
    lite::StatusOr<std::unique_ptr<StdinCopier>> copier =
        StdinCopier::Start(*source, p[1]);
    if (!copier.ok()) {
      close(p[0]);  // Start took the other two
      return fail(copier.status());
    }
    io->stdin_copier = std::move(*copier);
    runc_side->in = p[0];
  }
  return lite::OkStatus();
}

lite::Status OpenTerminalStdio(int master, const std::string& stdin_path,
                               const std::string& stdout_path, ProcessIo* io) {
  io->console = master;  // owned by `io` from here, closed with it
  // The copiers own what they are handed, so each gets a dup of its own.
  auto dup_master = [master]() -> lite::StatusOr<int> {
    int fd = fcntl(master, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return lite::InternalError("dup terminal: " + Errno());
    return fd;
  };
  int sink = -1;
  if (!stdout_path.empty()) {
    lite::StatusOr<int> out = OpenOutput(stdout_path);
    if (!out.ok()) return out.status();
    sink = *out;
  }
  lite::StatusOr<int> source = dup_master();
  if (!source.ok()) {
    CloseAll({sink});
    return source.status();
  }
  // Read even without a destination: a terminal nobody reads fills and
  // stops the process. A master reads EIO once the last holder of the
  // terminal is gone, which ends the copy.
  lite::StatusOr<std::unique_ptr<OutputCopier>> output =
      OutputCopier::Start(*source, sink, -1, -1);
  if (!output.ok()) return output.status();
  io->output_copier = std::move(*output);
  if (!stdin_path.empty()) {
    lite::StatusOr<int> in = OpenInput(stdin_path);
    if (!in.ok()) return in.status();
    lite::StatusOr<int> writer = dup_master();
    if (!writer.ok()) {
      close(*in);
      return writer.status();
    }
    lite::StatusOr<std::unique_ptr<StdinCopier>> input =
        StdinCopier::Start(*in, *writer);
    if (!input.ok()) return input.status();
    io->stdin_copier = std::move(*input);
  }
  return lite::OkStatus();
}

ProcessIo::~ProcessIo() {
  // The copiers first: their threads end before anything else goes.
  stdin_copier.reset();
  output_copier.reset();
  for (int fd : {stdin_fd, stdout_fd, stderr_fd, master, console}) {
    if (fd >= 0) close(fd);
  }
}

void ProcessIo::Resize(unsigned width, unsigned height) {
  ResizeTerminal(master >= 0 ? master : console, width, height);
}

void ProcessIo::CloseStdin() {
  if (stdin_fd >= 0) close(stdin_fd);
  stdin_fd = -1;
  if (stdin_copier != nullptr) stdin_copier->Close();
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

lite::Status RunWithConsole(
    const std::function<lite::Status(const std::string& console_socket)>& run,
    lite::StatusOr<int>* master) {
  *master = lite::UnknownError("runc was not run");
  lite::StatusOr<std::unique_ptr<ConsoleSocket>> console =
      ConsoleSocket::Listen();
  if (!console.ok()) {
    *master = console.status();
    return console.status();
  }
  // Received while runc runs: runc waits for the master to be taken.
  lite::StatusOr<int> received = lite::UnknownError("no terminal");
  std::thread receive;
  try {
    receive = std::thread([&] { received = (*console)->ReceiveMaster(); });
  } catch (const std::system_error& e) {
    lite::Status s(lite::StatusCode::kResourceExhausted,
                   lite::StrCat("no thread for the terminal: ", e.what()));
    *master = s;
    return s;
  }
  lite::Status ran;
  try {
    ran = run((*console)->path());
  } catch (...) {
    // The receiver must be joined before it goes, whatever `run` did.
    (*console)->Abandon();
    receive.join();
    if (received.ok()) close(*received);
    throw;
  }
  if (!ran.ok()) (*console)->Abandon();
  receive.join();
  if (!ran.ok()) {
    if (received.ok()) close(*received);
    *master = ran;
    return ran;
  }
  *master = std::move(received);
  return ran;
}

void ResizeTerminal(int master, unsigned width, unsigned height) {
  if (master < 0 || width == 0 || height == 0) return;
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(width);
  ws.ws_row = static_cast<unsigned short>(height);
  ioctl(master, TIOCSWINSZ, &ws);
}

}  // namespace cradle::shim
