// Exec and Attach: streams carrying a process's stdio over a connection.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "lite/files.h"
#include "nlohmann/json.hpp"
#include "shim/log.h"
#include "shim/service.h"

namespace cradle::shim {
namespace {

// After the process exits, output still in flight is read for this long.
constexpr int kDrainMillis = 2000;

// Feeds a stream's input frames (stdin, resizes, signals) to a process on
// a thread of its own. A client that closes its end is "gone": an exec is
// then killed, an attach detached.
class InputPump {
 public:
  InputPump(StreamConnection* client, std::function<void(const Frame&)> handle)
      : client_(client), thread_([this, handle] {
          // A frame that cannot be handled ends this stream, not the shim.
          try {
            for (;;) {
              lite::StatusOr<Frame> frame = ReadFrame(client_->fd());
              if (!frame.ok()) break;
              handle(*frame);
            }
          } catch (const std::exception& e) {
            LogWarning(lite::StrCat("stream input ended: ", e.what()));
          }
          gone_ = true;
        }) {}
  // Ends the connection's reads so the thread returns.
  ~InputPump() {
    client_->Shutdown();
    thread_.join();
  }
  bool client_gone() const { return gone_; }

 private:
  StreamConnection* const client_;
  std::atomic<bool> gone_{false};
  std::thread thread_;
};

// How far an attached client may fall behind the container's output before
// it is detached.
constexpr size_t kMaxAttachBacklog = 1 << 20;

// Output for one attached client. The container's pump queues it and never
// waits for a client (its log must go on); the attach's own thread writes
// it out. A client that falls kMaxAttachBacklog behind is disconnected.
class AttachBacklog {
 public:
  explicit AttachBacklog(StreamConnection* client) : client_(client) {}

  // From the pump: returns at once, and never throws (the pump must go on).
  void Push(OutputStream stream, std::string_view data) {
    std::lock_guard<std::mutex> lock(mu_);
    if (overflowed_) return;
    if (bytes_ + data.size() > kMaxAttachBacklog) {
      Overflow();
      return;
    }
    try {
      frames_.push_back({stream == OutputStream::kStdout ? FrameType::kStdout
                                                         : FrameType::kStderr,
                         std::string(data)});
    } catch (const std::exception&) {
      // No memory for the copy: this client loses output, so it is
      // detached as if it had fallen behind.
      Overflow();
      return;
    }
    bytes_ += data.size();
    ready_.notify_all();
  }

  // Sends what is queued, waiting up to `wait` for something to come.
  // False once the client is gone or was left behind.
  bool Flush(std::chrono::milliseconds wait) {
    std::deque<Frame> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ready_.wait_for(lock, wait,
                      [this] { return !frames_.empty() || overflowed_; });
      if (overflowed_) return false;
      batch.swap(frames_);
    }
    // A frame counts against the limit until it is sent: a client stuck
    // in Send falls behind like one that never reads.
    for (const Frame& f : batch) {
      if (!client_->Send(f.type, f.payload)) return false;
      std::lock_guard<std::mutex> lock(mu_);
      bytes_ -= f.payload.size();
    }
    return true;
  }

  bool overflowed() {
    std::lock_guard<std::mutex> lock(mu_);
    return overflowed_;
  }

 private:
  // With mu_ held.
  void Overflow() {
    overflowed_ = true;
    client_->Shutdown();  // also ends a Send blocked in Flush
    ready_.notify_all();
  }

  StreamConnection* const client_;
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<Frame> frames_;  // guarded by mu_
  size_t bytes_ = 0;          // queued or being sent; guarded by mu_
  bool overflowed_ = false;   // guarded by mu_
};

// A send to an attached client that makes no progress for this long
// detaches it, even while the container is quiet and the backlog small.
constexpr int kAttachSendTimeoutSeconds = 10;

// Ends a container subscription when it goes out of scope. Declared after
// the AttachBacklog its sink points to, so the sink is gone before it is,
// whichever way Attach returns.
class Subscription {
 public:
  Subscription(Container* container, int token)
      : container_(container), token_(token) {}
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { container_->Unsubscribe(token_); }

 private:
  Container* const container_;
  const int token_;
};

// {"width", "height"} of a kResize frame; false when malformed.
bool ParseResize(const std::string& payload, unsigned* width,
                 unsigned* height) {
  nlohmann::json j = nlohmann::json::parse(payload, nullptr, false);
  if (!j.is_object() || !j.contains("width") || !j.contains("height")) {
    return false;
  }
  try {
    *width = CheckedInteger<unsigned>(j["width"], "width");
    *height = CheckedInteger<unsigned>(j["height"], "height");
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

std::string ExitPayload(int exit_code) {
  return nlohmann::json({{"exitCode", exit_code}}).dump();
}

}  // namespace

lite::StatusOr<std::string> ShimService::WriteExecProcess(
    const Container& container, const ExecStart& start, uint64_t n) {
  nlohmann::json spec = nlohmann::json::parse(
      lite::ReadFileOrEmpty(container.request().bundle + "/config.json"),
      nullptr, false);
  if (!spec.is_object() || !spec.contains("process"))
    return lite::InternalError("the container's config.json is unreadable");
  nlohmann::json process = spec["process"];
  process["args"] = start.args;
  process["terminal"] = start.tty;
  process.erase("consoleSize");
  std::string path = lite::StrCat(state_dir_, "/exec-", n, ".json");
  std::string text = process.dump();
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write(fd, text.data(), text.size()) ==
                           static_cast<ssize_t>(text.size());
  if (fd >= 0) close(fd);
  if (!ok) return lite::InternalError("cannot write " + path);
  return path;
}

lite::StatusOr<pid_t> ShimService::StartExec(
    const ExecStart& start, ProcessIo* io, std::shared_ptr<ExecProcess>* exec) {
  if (start.container_id.empty() || start.args.empty()) {
    return lite::InvalidArgumentError(
        "exec needs a container id and a command");
  }
  lite::StatusOr<std::shared_ptr<Container>> c = Find(start.container_id);
  if (!c.ok()) return c.status();
  if ((*c)->State().status != ContainerStatus::kRunning) {
    return lite::FailedPreconditionError(
        lite::StrCat("container ", start.container_id, " is not running"));
  }
  uint64_t n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = next_exec_++;
  }
  lite::StatusOr<std::string> process = WriteExecProcess(**c, start, n);
  if (!process.ok()) return process.status();
  RuncExecOptions options;
  options.process_json = *process;
  options.pid_file = lite::StrCat(state_dir_, "/exec-", n, ".pid");
  options.detach = true;
  if (!start.tty) {
    if (lite::Status s = MakePipes(start.stdin, io, &options.stdio); !s.ok())
      return s;
  }
  lite::StatusOr<int> ran = lite::UnknownError("runc was not run");
  if (start.tty) {
    lite::StatusOr<int> master = lite::UnknownError("no terminal");
    bool run = false;
    lite::Status s = RunWithConsole(
        [&](const std::string& console_socket) {
          run = true;
          options.console_socket = console_socket;
          ran = runc_->Exec(start.container_id, options);
          return ran.ok() ? lite::OkStatus() : ran.status();
        },
        &master);
    if (!run) {
      unlink(process->c_str());
      return lite::Status(s.code(), lite::StrCat("exec in ", start.container_id,
                                                 ": ", s.message()));
    }
    if (master.ok()) io->master = *master;
  } else {
    ran = runc_->Exec(start.container_id, options);
  }
  for (int fd : {options.stdio.in, options.stdio.out, options.stdio.err}) {
    if (fd >= 0) close(fd);
  }
  unlink(process->c_str());
  pid_t pid = atoi(lite::ReadFileOrEmpty(options.pid_file).c_str());
  unlink(options.pid_file.c_str());
  if (!ran.ok() || pid <= 0) {
    std::string why = ran.ok() ? "runc wrote no pid" : ran.status().message();
    return lite::FailedPreconditionError(
        lite::StrCat("exec in ", start.container_id, ": ", why));
  }
  *exec = std::make_shared<ExecProcess>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    execs_[pid] = *exec;
  }
  ExitStatus early;
  if (Reaper::Get()->TakeExited(pid, &early)) {
    std::lock_guard<std::mutex> lock(mu_);
    execs_.erase(pid);
    std::lock_guard<std::mutex> exec_lock((*exec)->mu);
    (*exec)->exited = true;
    (*exec)->exit_code = early.exit_code;
  }
  return pid;
}

void ShimService::Exec(const ExecStart& start, StreamConnection* client) {
  ProcessIo io;
  std::shared_ptr<ExecProcess> exec;
  lite::StatusOr<pid_t> started = StartExec(start, &io, &exec);
  bool answered =
      client->Reply(started.status(), {{"pid", started.ok() ? *started : 0}});
  if (!started.ok()) return;
  pid_t pid = *started;
  if (!answered) {  // the client left while runc started the process
    kill(pid, SIGKILL);
    return;
  }

  int stdin_fd = io.master >= 0 ? io.master : io.stdin_fd;
  std::mutex stdin_mu;
  bool stdin_open = start.stdin;
  // Without a thread for its input the exec cannot be driven: it is
  // ended, and the client sees the stream close without an exit.
  std::optional<InputPump> input;
  try {
    input.emplace(client, [&](const Frame& in) {
      std::lock_guard<std::mutex> lock(stdin_mu);
      unsigned width, height;
      switch (in.type) {
        case FrameType::kResize:
          if (ParseResize(in.payload, &width, &height))
            ResizeTerminal(io.master, width, height);
          break;
        case FrameType::kKill: {
          nlohmann::json j = nlohmann::json::parse(in.payload, nullptr, false);
          auto it = j.is_object() ? j.find("signal") : j.end();
          int signal =
              it != j.end() && it->is_number_integer() ? it->get<int>() : 0;
          std::lock_guard<std::mutex> exec_lock(exec->mu);
          if (signal > 0 && !exec->exited) kill(pid, signal);
          break;
        }
        case FrameType::kStdin:
          if (stdin_open)
            (void)!write(stdin_fd, in.payload.data(), in.payload.size());
          break;
        case FrameType::kCloseStdin:
          if (!stdin_open) break;
          stdin_open = false;
          if (io.master >= 0) {
            char eot = 4;
            (void)!write(io.master, &eot, 1);
          } else {
            io.CloseStdin();
          }
          break;
        default:
          break;
      }
    });
  } catch (const std::system_error& e) {
    LogWarning(lite::StrCat("exec in container=", start.container_id,
                            " ended: no thread for its input: ", e.what()));
    std::lock_guard<std::mutex> exec_lock(exec->mu);
    if (!exec->exited) kill(pid, SIGKILL);  // never a reaped, reused pid
    return;
  }

  int fds[2] = {io.master >= 0 ? io.master : io.stdout_fd,
                io.master >= 0 ? -1 : io.stderr_fd};
  char buf[32 * 1024];
  int drain_left = kDrainMillis;
  bool client_gone = false;
  int exit_code = 0;
  for (;;) {
    bool exited;
    {
      std::lock_guard<std::mutex> lock(exec->mu);
      exited = exec->exited;
      exit_code = exec->exit_code;
    }
    if (input->client_gone()) {
      client_gone = true;
      break;
    }
    pollfd p[2];
    int count = 0;
    for (int fd : fds) {
      if (fd >= 0) p[count++] = {fd, POLLIN, 0};
    }
    if (count == 0 && exited) break;
    if (exited && (drain_left -= 100) < 0) break;
    if (count == 0) {
      // Output is over; the exit is reported by the reaper any moment.
      std::unique_lock<std::mutex> lock(exec->mu);
      exec->exited_cv.wait_for(lock, std::chrono::milliseconds(100),
                               [&] { return exec->exited; });
      continue;
    }
    if (poll(p, count, 100) <= 0) continue;
    for (int i = 0; i < count; ++i) {
      if (p[i].revents == 0) continue;
      ssize_t r = read(p[i].fd, buf, sizeof(buf));
      if (r < 0 && errno == EINTR) continue;
      bool is_out = p[i].fd == fds[0];
      if (r <= 0) {
        fds[is_out ? 0 : 1] = -1;
        continue;
      }
      if (!client->Send(is_out ? FrameType::kStdout : FrameType::kStderr,
                        std::string_view(buf, r))) {
        client_gone = true;
      }
    }
    if (client_gone) break;
  }
  if (client_gone) {
    // Nobody is listening: the process must not outlive its stream.
    LogInfo(lite::StrCat("container=", start.container_id, " exec pid ", pid,
                         ": client gone, killing it"));
    kill(pid, SIGKILL);
  } else {
    client->Send(FrameType::kExit, ExitPayload(exit_code));
  }
}

void ShimService::Attach(const std::string& id, StreamConnection* client) {
  lite::StatusOr<std::shared_ptr<Container>> c =
      id.empty() ? lite::InvalidArgumentError("attach needs a container id")
                 : Find(id);
  if (!c.ok()) {
    client->Reply(c.status());
    return;
  }
  std::shared_ptr<Container> container = *c;
  // Output goes out from this thread only; SO_SNDTIMEO bounds each send so
  // a client that stops reading is detached (Send fails) rather than holding
  // the stream forever. Bounds the reply too.
  timeval send_limit{kAttachSendTimeoutSeconds, 0};
  setsockopt(client->fd(), SOL_SOCKET, SO_SNDTIMEO, &send_limit,
             sizeof(send_limit));
  // Subscribed before the reply, so output after the reply is never missed.
  AttachBacklog backlog(client);
  Subscription subscription(
      container.get(),
      container->Subscribe([&backlog](OutputStream s, std::string_view d) {
        backlog.Push(s, d);
      }));
  if (!client->Reply(lite::OkStatus())) return;
  bool used_stdin = false;
  {
    std::optional<InputPump> input;
    try {
      input.emplace(client, [&](const Frame& in) {
        unsigned width, height;
        if (in.type == FrameType::kResize &&
            ParseResize(in.payload, &width, &height)) {
          container->Resize(width, height);
        } else if (in.type == FrameType::kStdin && !in.payload.empty()) {
          used_stdin = true;
          container->WriteStdin(in.payload);
        } else if (in.type == FrameType::kCloseStdin) {
          container->CloseStdin();
        }
      });
    } catch (const std::system_error& e) {
      // No thread for its input: the client is detached at once.
      LogWarning(lite::StrCat("attach to container=", id,
                              " refused: no thread: ", e.what()));
      return;
    }
    ContainerState state;
    bool recorded = false;
    while (!input->client_gone() &&
           backlog.Flush(std::chrono::milliseconds(100))) {
      // Recorded only after the pump is done: all output is queued by then.
      if ((recorded = container->WaitFor(std::chrono::milliseconds(0), &state)))
        break;
    }
    if (backlog.overflowed()) {
      LogWarning(lite::StrCat("attach to container=", id, ": the client fell ",
                              kMaxAttachBacklog, " bytes behind; detached"));
    }
    if (recorded && backlog.Flush(std::chrono::milliseconds(0))) {
      client->Send(FrameType::kExit, ExitPayload(state.exit_code));
    }
  }
  if (used_stdin && container->request().stdin_once) container->CloseStdin();
}

}  // namespace cradle::shim
