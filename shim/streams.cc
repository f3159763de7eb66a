// Exec and Attach: bidirectional streams carrying a process's stdio.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"
#include "process/reaper.h"
#include "shim/service.h"

namespace cradle::shim {
namespace {

using Stream = grpc::ServerReaderWriter<v1::StreamOutput, v1::StreamInput>;

// After the process exits, output still in flight is read for this long.
constexpr int kDrainMillis = 2000;

// Feeds a stream's input (stdin, resizes) to a process until the client
// half-closes or goes away.
class InputPump {
 public:
  InputPump(Stream* stream, std::function<void(const v1::StreamInput&)> handle)
      : thread_([stream, handle] {
          v1::StreamInput in;
          while (stream->Read(&in)) handle(in);
        }) {}
  // The caller cancels the call first so a blocked Read returns.
  ~InputPump() { thread_.join(); }

 private:
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::string> ShimService::WriteExecProcess(
    const Container& container, const v1::ExecStart& start, uint64_t n) {
  std::ifstream in(container.request().bundle() + "/config.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json spec = nlohmann::json::parse(text.str(), nullptr, false);
  if (!spec.is_object() || !spec.contains("process"))
    return absl::InternalError("the container's config.json is unreadable");
  nlohmann::json process = spec["process"];
  process["args"] =
      std::vector<std::string>(start.args().begin(), start.args().end());
  process["terminal"] = start.tty();
  process.erase("consoleSize");
  std::string path = absl::StrCat(state_dir_, "/exec-", n, ".json");
  std::ofstream(path) << process.dump();
  return path;
}

grpc::Status ShimService::Exec(grpc::ServerContext* context, Stream* stream) {
  v1::StreamInput first;
  if (!stream->Read(&first) || first.start().container_id().empty() ||
      first.start().args().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "exec needs a container id and a command");
  }
  const v1::ExecStart& start = first.start();
  absl::StatusOr<std::shared_ptr<Container>> c = Find(start.container_id());
  if (!c.ok()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        std::string(c.status().message()));
  }
  if ((*c)->State().status() != v1::RUNNING) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("container ", start.container_id(), " is not running"));
  }
  uint64_t n;
  {
    absl::MutexLock lock(&mu_);
    n = next_exec_++;
  }
  absl::StatusOr<std::string> process = WriteExecProcess(**c, start, n);
  if (!process.ok())
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        std::string(process.status().message()));
  ProcessIo io;
  RuncExecOptions options;
  options.process_json = *process;
  options.pid_file = absl::StrCat(state_dir_, "/exec-", n, ".pid");
  options.detach = true;
  std::unique_ptr<ConsoleSocket> console;
  if (start.tty()) {
    absl::StatusOr<std::unique_ptr<ConsoleSocket>> s = ConsoleSocket::Listen();
    if (!s.ok())
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          std::string(s.status().message()));
    console = std::move(*s);
    options.console_socket = console->path();
  } else if (absl::Status s = MakePipes(start.stdin(), &io, &options.stdio);
             !s.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message()));
  }
  std::thread receive;
  absl::StatusOr<int> master = absl::UnknownError("no terminal");
  if (console != nullptr) {
    receive = std::thread([&] { master = console->ReceiveMaster(); });
  }
  absl::StatusOr<int> ran = runc_->Exec(start.container_id(), options);
  for (int fd : {options.stdio.in, options.stdio.out, options.stdio.err}) {
    if (fd >= 0) close(fd);
  }
  if (receive.joinable()) {
    if (!ran.ok()) console->Abandon();
    receive.join();
    if (master.ok()) io.master = *master;
  }
  unlink(process->c_str());
  std::ifstream pid_in(options.pid_file);
  pid_t pid = 0;
  pid_in >> pid;
  unlink(options.pid_file.c_str());
  if (!ran.ok() || pid <= 0) {
    std::string why =
        ran.ok() ? "runc wrote no pid" : std::string(ran.status().message());
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("exec in ", start.container_id(), ": ", why));
  }
  auto exec = std::make_shared<ExecProcess>();
  {
    absl::MutexLock lock(&mu_);
    execs_[pid] = exec;
  }
  ExitStatus early;
  if (Reaper::Get()->TakeExited(pid, &early)) {
    absl::MutexLock lock(&mu_);
    execs_.erase(pid);
    absl::MutexLock exec_lock(&exec->mu);
    exec->exited = true;
    exec->exit_code = early.exit_code;
  }
  VLOG(1) << "container=" << start.container_id() << " exec pid " << pid;

  int stdin_fd = io.master >= 0 ? io.master : io.stdin_fd;
  absl::Mutex stdin_mu;
  bool stdin_open = start.stdin();
  InputPump input(stream, [&](const v1::StreamInput& in) {
    absl::MutexLock lock(&stdin_mu);
    if (in.has_resize())
      ResizeTerminal(io.master, in.resize().width(), in.resize().height());
    if (in.kill_signal() > 0) {
      absl::MutexLock exec_lock(&exec->mu);
      if (!exec->exited) kill(pid, in.kill_signal());
    }
    if (!stdin_open) return;
    if (!in.stdin().empty()) {
      (void)!write(stdin_fd, in.stdin().data(), in.stdin().size());
    }
    if (in.close_stdin()) {
      stdin_open = false;
      if (io.master >= 0) {
        char eot = 4;
        (void)!write(io.master, &eot, 1);
      } else {
        io.CloseStdin();
      }
    }
  });

  int fds[2] = {io.master >= 0 ? io.master : io.stdout_fd,
                io.master >= 0 ? -1 : io.stderr_fd};
  char buf[32 * 1024];
  int drain_left = kDrainMillis;
  bool client_gone = false;
  int exit_code = 0;
  for (;;) {
    bool exited;
    {
      absl::MutexLock lock(&exec->mu);
      exited = exec->exited;
      exit_code = exec->exit_code;
    }
    if (context->IsCancelled()) {
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
      exec->mu.LockWhenWithTimeout(absl::Condition(&exec->exited),
                                   absl::Milliseconds(100));
      exec->mu.Unlock();
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
      v1::StreamOutput out;
      (is_out ? out.mutable_stdout() : out.mutable_stderr())->assign(buf, r);
      if (!stream->Write(out)) client_gone = true;
    }
    if (client_gone) break;
  }
  if (client_gone) {
    // Nobody is listening: the process must not outlive its stream.
    LOG(INFO) << "container=" << start.container_id() << " exec pid " << pid
              << ": client gone, killing it";
    kill(pid, SIGKILL);
  } else {
    v1::StreamOutput last;
    last.set_exited(true);
    last.set_exit_code(exit_code);
    stream->Write(last);
  }
  context->TryCancel();  // ends the input pump's Read
  return grpc::Status::OK;
}

grpc::Status ShimService::Attach(grpc::ServerContext* context, Stream* stream) {
  v1::StreamInput first;
  if (!stream->Read(&first) || first.attach_id().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "attach needs a container id");
  }
  absl::StatusOr<std::shared_ptr<Container>> c = Find(first.attach_id());
  if (!c.ok()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        std::string(c.status().message()));
  }
  std::shared_ptr<Container> container = *c;
  absl::Mutex write_mu;
  bool client_gone = false;
  int token = container->Subscribe([&](OutputStream s, absl::string_view d) {
    v1::StreamOutput out;
    (s == OutputStream::kStdout ? out.mutable_stdout() : out.mutable_stderr())
        ->assign(d.data(), d.size());
    absl::MutexLock lock(&write_mu);
    if (!client_gone && !stream->Write(out)) client_gone = true;
  });
  bool used_stdin = false;
  {
    InputPump input(stream, [&](const v1::StreamInput& in) {
      if (in.has_resize())
        container->Resize(in.resize().width(), in.resize().height());
      if (!in.stdin().empty()) {
        used_stdin = true;
        container->WriteStdin(in.stdin());
      }
      if (in.close_stdin()) container->CloseStdin();
    });
    while (!context->IsCancelled() && !container->exited()) {
      {
        absl::MutexLock lock(&write_mu);
        if (client_gone) break;
      }
      usleep(100 * 1000);
    }
    container->Unsubscribe(token);
    if (container->exited() && !context->IsCancelled()) {
      v1::ContainerState state = container->Wait();
      v1::StreamOutput last;
      last.set_exited(true);
      last.set_exit_code(state.exit_code());
      absl::MutexLock lock(&write_mu);
      stream->Write(last);
    }
    context->TryCancel();
  }
  if (used_stdin && container->request().stdin_once()) container->CloseStdin();
  return grpc::Status::OK;
}

}  // namespace cradle::shim
