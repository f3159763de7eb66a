#include "shim/service.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "lite/files.h"
#include "shim/log.h"

namespace cradle::shim {

bool StreamConnection::Send(FrameType type, std::string_view payload) {
  std::lock_guard<std::mutex> lock(write_mu_);
  return WriteFrame(fd_, type, payload).ok();
}

bool StreamConnection::ClientClosed() const {
  pollfd p{fd_, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void StreamConnection::Shutdown() { shutdown(fd_, SHUT_RDWR); }

bool ShimService::OnExit(pid_t pid, const ExitStatus& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = inits_.find(pid); it != inits_.end()) {
    it->second->Exited(status.exit_code);
    inits_.erase(it);
    return true;
  }
  if (auto it = execs_.find(pid); it != execs_.end()) {
    std::lock_guard<std::mutex> exec_lock(it->second->mu);
    it->second->exited = true;
    it->second->exit_code = status.exit_code;
    it->second->exited_at = NowNanos();
    if (it->second->on_exit) it->second->on_exit();
    it->second->exited_cv.notify_all();
    execs_.erase(it);
    return true;
  }
  return false;
}

void ShimService::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
}

bool ShimService::stopped() {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}

bool ShimService::shutting_down() {
  std::lock_guard<std::mutex> lock(mu_);
  return shutdown_;
}

lite::StatusOr<std::shared_ptr<Container>> ShimService::Find(
    const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end())
    return lite::NotFoundError(lite::StrCat("container ", id, " not found"));
  return it->second;
}

void ShimService::Publish(const ContainerState& state) {
  ExitEvent event{state.id, state.pid, state.exit_code, state.exited_at,
                  state.oom_killed};
  std::lock_guard<std::mutex> lock(events_mu_);
  for (auto& [n, queue] : subscribers_) queue.push_back(event);
  events_cv_.notify_all();
}

int ShimService::ContainerCount() {
  std::lock_guard<std::mutex> lock(mu_);
  return containers_.size();
}

lite::StatusOr<int> ShimService::Create(const CreateRequest& request) {
  const std::string& id = request.id;
  if (id.empty() || id.find('/') != std::string::npos ||
      request.bundle.empty()) {
    return lite::InvalidArgumentError(
        "create needs a plain container id and a bundle");
  }
  auto container = std::make_shared<Container>(
      request, lite::StrCat(state_dir_, "/", id, ".json"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) {
      return lite::FailedPreconditionError("the shim is shutting down");
    }
    if (!containers_.emplace(id, container).second) {
      return lite::AlreadyExistsError(
          lite::StrCat("container ", id, " already exists"));
    }
  }
  auto fail = [&](const lite::Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    containers_.erase(id);
    LogWarning(
        lite::StrCat("container=", id, " create failed: ", s.ToString()));
    return s;
  };
  lite::StatusOr<std::unique_ptr<CriLogWriter>> log =
      CriLogWriter::Open(request.log_path);
  if (!log.ok()) return fail(log.status());

  auto io = std::make_unique<ProcessIo>();
  RuncCreateOptions options;
  options.bundle = request.bundle;
  options.pid_file = lite::StrCat(state_dir_, "/", id, ".pid");
  const bool on_paths = !request.stdin_path.empty() ||
                        !request.stdout_path.empty() ||
                        !request.stderr_path.empty();
  // A terminal comes from runc itself, below.
  if (!request.tty) {
    lite::Status s =
        on_paths ? OpenPathStdio(request.stdin_path, request.stdout_path,
                                 request.stderr_path, io.get(), &options.stdio)
                 : MakePipes(request.stdin, io.get(), &options.stdio);
    if (!s.ok()) return fail(s);
  }
  lite::Status created;
  lite::StatusOr<int> master = lite::UnknownError("no terminal");
  if (request.tty) {
    created = RunWithConsole(
        [&](const std::string& console_socket) {
          options.console_socket = console_socket;
          return runc_->Create(id, options);
        },
        &master);
  } else {
    created = runc_->Create(id, options);
  }
  for (int fd : {options.stdio.in, options.stdio.out, options.stdio.err}) {
    if (fd >= 0) close(fd);
  }
  if (created.ok() && request.tty) {
    if (!master.ok()) {
      created = master.status();
    } else if (on_paths) {
      // A containerd client's terminal: its FIFOs, not the CRI's log.
      created = OpenTerminalStdio(*master, request.stdin_path,
                                  request.stdout_path, io.get());
    } else {
      io->master = *master;
    }
  }
  if (!created.ok()) {
    runc_->Delete(id, /*force=*/true).IgnoreError();
    return fail(created);
  }
  pid_t pid = atoi(lite::ReadFileOrEmpty(options.pid_file).c_str());
  unlink(options.pid_file.c_str());
  if (pid <= 0) return fail(lite::InternalError("runc wrote no pid"));
  container->set_on_recorded([this](const ContainerState& s) { Publish(s); });
  if (!BundleHasOwnPidNamespace(request.bundle)) {
    // Sharing the pod's (or host's) PID namespace, its children outlive
    // its init; containerd kills them then, and so do we.
    std::string procs = CgroupDirOf(request.bundle, "pids");
    if (!procs.empty()) procs += "/cgroup.procs";
    container->set_on_init_exit([this, id, procs] {
      // Most inits leave nothing behind: then no runc call delays the exit.
      if (!procs.empty() && lite::ReadFileOrEmpty(procs).empty()) return;
      lite::Status s = runc_->Kill(id, SIGKILL, /*all=*/true);
      if (!s.ok() && !lite::IsNotFound(s)) {
        LogWarning(lite::StrCat("container=", id,
                                " killing what its init left: ", s.ToString()));
      }
    });
  }
  if (lite::Status s = container->Created(pid, std::move(io), std::move(*log));
      !s.ok()) {
    runc_->Delete(id, /*force=*/true).IgnoreError();
    return fail(s);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    inits_[pid] = container;
  }
  // The init may have died before it was registered above.
  ExitStatus early;
  if (Reaper::Get()->TakeExited(pid, &early)) {
    std::lock_guard<std::mutex> lock(mu_);
    inits_.erase(pid);
    container->Exited(early.exit_code);
  }
  LogInfo(lite::StrCat("container=", id, " created, pid ", pid));
  return pid;
}

lite::StatusOr<ContainerState> ShimService::Start(const std::string& id) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  ContainerState now = (*c)->State();
  if (now.status != ContainerStatus::kCreated) {
    return lite::FailedPreconditionError(
        lite::StrCat("container ", id, " is ", ContainerStatusName(now.status),
                     ", not CREATED"));
  }
  if (lite::Status s = runc_->Start(id); !s.ok()) return s;
  (*c)->Started();
  return (*c)->State();
}

lite::Status ShimService::Kill(const std::string& id, int signal, bool all) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  if ((*c)->exited()) return lite::OkStatus();
  lite::Status s = runc_->Kill(id, signal, all);
  // Exiting while we asked is not an error: the caller wanted it gone.
  if (!s.ok() && (*c)->exited()) return lite::OkStatus();
  return s;
}

lite::StatusOr<ContainerState> ShimService::Delete(const std::string& id) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  ContainerState now = (*c)->State();
  if (now.status == ContainerStatus::kRunning ||
      now.status == ContainerStatus::kPaused) {
    return lite::FailedPreconditionError(
        lite::StrCat("container ", id, " is running; stop it first"));
  }
  lite::Status s = runc_->Delete(id, /*force=*/true);
  if (!s.ok() && !lite::IsNotFound(s)) return s;
  // A created-but-never-started init was just killed by runc; a stopped
  // one is being recorded: either way wait for the record.
  ContainerState last = (*c)->Wait();
  std::map<std::string, std::shared_ptr<DetachedProcess>> processes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    containers_.erase(id);
    if (auto it = processes_.find(id); it != processes_.end()) {
      processes.swap(it->second);
      processes_.erase(it);
    }
  }
  // `processes` (and their copiers) end on return, outside the lock.
  LogInfo(lite::StrCat("container=", id, " deleted"));
  return last;
}

lite::StatusOr<ContainerState> ShimService::State(const std::string& id) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  return (*c)->State();
}

std::vector<ContainerState> ShimService::List() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ContainerState> all;
  for (auto& [id, c] : containers_) all.push_back(c->State());
  return all;
}

lite::StatusOr<ContainerState> ShimService::Wait(
    const std::string& id, const StreamConnection& client) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  ContainerState state;
  while (!(*c)->WaitFor(std::chrono::milliseconds(500), &state)) {
    if (client.ClientClosed()) return lite::CancelledError("client gone");
  }
  return state;
}

lite::Status ShimService::Resize(const std::string& id, unsigned width,
                                 unsigned height) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  (*c)->Resize(width, height);
  return lite::OkStatus();
}

lite::Status ShimService::CloseStdin(const std::string& id) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  (*c)->CloseStdin();
  return lite::OkStatus();
}

lite::Status ShimService::ReopenLog(const std::string& id) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  return (*c)->ReopenLog();
}

lite::Status ShimService::Update(const std::string& id,
                                 const std::string& resources) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  return runc_->Update(id, resources);
}

lite::Status ShimService::Pause(const std::string& id) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  if (lite::Status s = runc_->Pause(id); !s.ok()) return s;
  (*c)->SetPaused(true);
  return lite::OkStatus();
}

lite::Status ShimService::Resume(const std::string& id) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  if (lite::Status s = runc_->Resume(id); !s.ok()) return s;
  (*c)->SetPaused(false);
  return lite::OkStatus();
}

lite::StatusOr<std::vector<int>> ShimService::Pids(const std::string& id) {
  lite::StatusOr<std::shared_ptr<Container>> c = Find(id);
  if (!c.ok()) return c.status();
  lite::StatusOr<std::vector<pid_t>> pids = runc_->Ps(id);
  if (!pids.ok()) return pids.status();
  return std::vector<int>(pids->begin(), pids->end());
}

void ShimService::Events(StreamConnection* client) {
  int me;
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    me = next_subscriber_++;
    subscribers_[me];
  }
  client->Reply(lite::OkStatus());
  while (!client->ClientClosed() && !shutting_down()) {
    std::deque<ExitEvent> batch;
    {
      std::unique_lock<std::mutex> lock(events_mu_);
      events_cv_.wait_for(lock, std::chrono::milliseconds(500),
                          [&] { return !subscribers_[me].empty(); });
      batch.swap(subscribers_[me]);
    }
    bool ok = true;
    for (const ExitEvent& e : batch) {
      ok = ok && client->Send(FrameType::kEvent, nlohmann::json(e).dump());
    }
    if (!ok) break;
  }
  std::lock_guard<std::mutex> lock(events_mu_);
  subscribers_.erase(me);
}

lite::Status ShimService::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!containers_.empty()) {
    return lite::FailedPreconditionError(
        lite::StrCat("the shim still runs ", containers_.size(),
                     " container(s); delete them first"));
  }
  shutdown_ = true;
  return lite::OkStatus();
}

}  // namespace cradle::shim
