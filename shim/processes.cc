// Detached processes by exec id: containerd's exec, where a client creates
// a process with a whole OCI process spec and its own stdio paths, then
// starts, waits for, signals and deletes it in separate calls.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "lite/files.h"
#include "nlohmann/json.hpp"
#include "shim/log.h"
#include "shim/service.h"

namespace cradle::shim {
namespace {

ContainerState StateOf(const std::string& exec_id, pid_t pid, bool exited,
                       int exit_code, int64_t exited_at) {
  ContainerState s;
  s.id = exec_id;
  s.pid = pid;
  s.status = exited ? ContainerStatus::kStopped : ContainerStatus::kRunning;
  s.exit_code = exit_code;
  s.exited_at = exited_at;
  return s;
}

}  // namespace

lite::StatusOr<std::shared_ptr<ShimService::DetachedProcess>>
ShimService::FindProcess(const std::string& id, const std::string& exec_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto c = processes_.find(id);
  if (c != processes_.end()) {
    auto p = c->second.find(exec_id);
    if (p != c->second.end()) return p->second;
  }
  return lite::NotFoundError(
      lite::StrCat("process ", exec_id, " of container ", id, " not found"));
}

lite::StatusOr<int> ShimService::StartProcess(const ProcessStart& start) {
  const std::string& id = start.container_id;
  if (id.empty() || start.exec_id.empty()) {
    return lite::InvalidArgumentError(
        "a process needs a container id and an exec id");
  }
  nlohmann::json process = nlohmann::json::parse(start.process, nullptr, false);
  if (!process.is_object() || !process.contains("args")) {
    return lite::InvalidArgumentError(
        "the process spec is not an OCI process object with args");
  }
  // runc allocates a terminal by the spec: it must agree with the call.
  process["terminal"] = start.tty;
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  if ((*c)->State().status != ContainerStatus::kRunning) {
    return lite::FailedPreconditionError(
        lite::StrCat("container ", id, " is not running"));
  }
  if (FindProcess(id, start.exec_id).ok()) {
    return lite::AlreadyExistsError(lite::StrCat(
        "process ", start.exec_id, " of container ", id, " already exists"));
  }
  uint64_t n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = next_exec_++;
  }
  std::string spec_path = lite::StrCat(state_dir_, "/exec-", n, ".json");
  if (int err = lite::WriteFileAtomic(spec_path, process.dump()); err != 0) {
    return lite::InternalError(
        lite::StrCat("cannot write ", spec_path, ": ", strerror(err)));
  }
  auto proc = std::make_shared<DetachedProcess>();
  proc->exec_id = start.exec_id;
  RuncExecOptions options;
  options.process_json = spec_path;
  options.pid_file = lite::StrCat(state_dir_, "/exec-", n, ".pid");
  options.detach = true;
  lite::StatusOr<int> ran = lite::UnknownError("runc was not run");
  lite::StatusOr<int> master = lite::UnknownError("no terminal");
  if (start.tty) {
    lite::Status s = RunWithConsole(
        [&](const std::string& console_socket) {
          options.console_socket = console_socket;
          ran = runc_->Exec(id, options);
          return ran.ok() ? lite::OkStatus() : ran.status();
        },
        &master);
    if (!s.ok()) ran = s;
  } else {
    lite::Status opened =
        OpenPathStdio(start.stdin_path, start.stdout_path, start.stderr_path,
                      &proc->io, &options.stdio);
    ran = opened.ok() ? runc_->Exec(id, options) : opened;
  }
  for (int fd : {options.stdio.in, options.stdio.out, options.stdio.err}) {
    if (fd >= 0) close(fd);
  }
  unlink(spec_path.c_str());
  pid_t pid = atoi(lite::ReadFileOrEmpty(options.pid_file).c_str());
  unlink(options.pid_file.c_str());
  if (!ran.ok()) return ran.status();
  if (pid <= 0) {
    if (master.ok()) close(*master);
    return lite::InternalError(lite::StrCat("exec ", start.exec_id, " in ", id,
                                            ": runc wrote no pid"));
  }
  if (start.tty) {
    lite::Status io_ready =
        master.ok() ? OpenTerminalStdio(*master, start.stdin_path,
                                        start.stdout_path, &proc->io)
                    : master.status();
    if (!io_ready.ok()) {
      // Started, but nobody could reach it: it must not run on unseen.
      kill(pid, SIGKILL);
      return io_ready;
    }
  }
  proc->pid = pid;
  proc->exit = std::make_shared<ExecProcess>();
  ProcessIo* io = &proc->io;  // lives as long as `proc`, which outlives pid
  proc->exit->on_exit = [io] { io->ProcessExited(); };
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Registered for the reaper and for the calls in one step, so an exit
    // is never claimed by nobody.
    auto [it, fresh] = processes_[id].emplace(start.exec_id, proc);
    if (!fresh) {
      kill(pid, SIGKILL);  // lost a race for the exec id; never started
      return lite::AlreadyExistsError(lite::StrCat(
          "process ", start.exec_id, " of container ", id, " already exists"));
    }
    execs_[pid] = proc->exit;
  }
  ExitStatus early;
  if (Reaper::Get()->TakeExited(pid, &early)) {
    std::lock_guard<std::mutex> lock(mu_);
    execs_.erase(pid);
    std::lock_guard<std::mutex> exec_lock(proc->exit->mu);
    proc->exit->exited = true;
    proc->exit->exit_code = early.exit_code;
    proc->exit->exited_at = NowNanos();
    proc->io.ProcessExited();
    proc->exit->exited_cv.notify_all();
  }
  LogInfo(lite::StrCat("container=", id, " exec=", start.exec_id,
                       " started, pid ", pid));
  return pid;
}

lite::StatusOr<ContainerState> ShimService::ProcessState(
    const std::string& id, const std::string& exec_id) {
  lite::StatusOr<std::shared_ptr<DetachedProcess>> p = FindProcess(id, exec_id);
  if (!p.ok()) return p.status();
  std::lock_guard<std::mutex> lock((*p)->exit->mu);
  return StateOf(exec_id, (*p)->pid, (*p)->exit->exited, (*p)->exit->exit_code,
                 (*p)->exit->exited_at);
}

lite::StatusOr<ContainerState> ShimService::WaitProcess(
    const std::string& id, const std::string& exec_id,
    const StreamConnection& client) {
  lite::StatusOr<std::shared_ptr<DetachedProcess>> p = FindProcess(id, exec_id);
  if (!p.ok()) return p.status();
  ExecProcess& exit = *(*p)->exit;
  std::unique_lock<std::mutex> lock(exit.mu);
  while (!exit.exited_cv.wait_for(lock, std::chrono::milliseconds(500),
                                  [&] { return exit.exited; })) {
    if (client.ClientClosed()) return lite::CancelledError("client gone");
  }
  return StateOf(exec_id, (*p)->pid, true, exit.exit_code, exit.exited_at);
}

lite::Status ShimService::KillProcess(const std::string& id,
                                      const std::string& exec_id, int signal) {
  lite::StatusOr<std::shared_ptr<DetachedProcess>> p = FindProcess(id, exec_id);
  if (!p.ok()) return p.status();
  std::lock_guard<std::mutex> lock((*p)->exit->mu);
  // Under the lock the reaper takes to record the exit: the pid is never
  // one reaped and reused.
  if ((*p)->exit->exited) return lite::OkStatus();
  if (kill((*p)->pid, signal) != 0) {
    return lite::InternalError(
        lite::StrCat("kill ", exec_id, ": ", strerror(errno)));
  }
  return lite::OkStatus();
}

lite::StatusOr<ContainerState> ShimService::DeleteProcess(
    const std::string& id, const std::string& exec_id) {
  lite::StatusOr<ContainerState> state = ProcessState(id, exec_id);
  if (!state.ok()) return state;
  if (state->status != ContainerStatus::kStopped) {
    return lite::FailedPreconditionError(
        lite::StrCat("process ", exec_id, " of container ", id,
                     " is running; kill it first"));
  }
  std::shared_ptr<DetachedProcess> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto c = processes_.find(id);
    if (c != processes_.end()) {
      auto p = c->second.find(exec_id);
      if (p != c->second.end()) {
        gone = std::move(p->second);
        c->second.erase(p);
      }
      if (c->second.empty()) processes_.erase(c);
    }
  }
  // `gone` (its copiers) ends on return, outside the lock.
  return state;
}

lite::Status ShimService::ResizeProcess(const std::string& id,
                                        const std::string& exec_id,
                                        unsigned width, unsigned height) {
  lite::StatusOr<std::shared_ptr<DetachedProcess>> p = FindProcess(id, exec_id);
  if (!p.ok()) return p.status();
  (*p)->io.Resize(width, height);
  return lite::OkStatus();
}

lite::Status ShimService::CloseProcessStdin(const std::string& id,
                                            const std::string& exec_id) {
  lite::StatusOr<std::shared_ptr<DetachedProcess>> p = FindProcess(id, exec_id);
  if (!p.ok()) return p.status();
  (*p)->io.CloseStdin();
  return lite::OkStatus();
}

}  // namespace cradle::shim
