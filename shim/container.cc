#include "shim/container.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "lite/files.h"
#include "nlohmann/json.hpp"
#include "runc_driver/runc.h"
#include "shim/log.h"

namespace cradle::shim {
namespace {

// Output still buffered in a pipe after the init exits is drained for at
// most this long: a daemonized grandchild may keep the pipe open forever.
constexpr std::chrono::seconds kDrainLimit(2);

// Never throws: it runs where an exception was just caught, often for
// want of memory.
void LogThreadFailure(const std::string& id, const char* what,
                      const char* why) {
  try {
    LogError(lite::StrCat("container=", id, " ", what, " failed: ", why));
  } catch (...) {
  }
}

}  // namespace

int64_t NowNanos() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

std::string CgroupDirOf(const std::string& bundle,
                        const std::string& controller) {
  std::string path = BundleCgroupsPath(bundle);
  if (path.empty() || path[0] != '/') return "";  // systemd form: not handled
  bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
  return v2 ? "/sys/fs/cgroup" + path : "/sys/fs/cgroup/" + controller + path;
}

Container::Container(CreateRequest request, std::string state_file)
    : request_(std::move(request)), state_file_(std::move(state_file)) {
  state_.id = request_.id;
  state_.bundle = request_.bundle;
  state_.log_path = request_.log_path;
}

Container::~Container() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    abandoned_ = true;
    changed_.notify_all();
  }
  if (pump_.joinable()) pump_.join();
  if (finisher_.joinable()) finisher_.join();
  unlink(state_file_.c_str());
}

template <typename F, typename OnFailure>
bool Container::Guarded(const char* what, F run, OnFailure on_failure) {
  // Out of memory, in practice: the container loses its output or the
  // record of its exit, the shim and its other containers go on. The state
  // others wait on is put right before logging, which allocates and may
  // throw again.
  try {
    run();
    return true;
  } catch (const std::exception& e) {
    on_failure();
    LogThreadFailure(id(), what, e.what());
  } catch (...) {
    on_failure();
    LogThreadFailure(id(), what, "unknown exception");
  }
  return false;
}

void Container::PumpFailed() {
  std::lock_guard<std::mutex> lock(mu_);
  pump_done_ = true;
  changed_.notify_all();
}

void Container::RecorderFailed() {
  ContainerState state;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (recorded_) return;  // only what came after the record failed
    if (!exit_pending_) {
      // The exit is not known; Wait, attaches and the daemon still need
      // an answer rather than waiting forever.
      state_.status = ContainerStatus::kStopped;
      state_.exit_code = 255;
      state_.exited_at = NowNanos();
    }
    try {
      Persist();
    } catch (...) {
      // Known to this shim only, then; it is still reported below.
    }
    recorded_ = true;
    state = state_;
    changed_.notify_all();
  }
  try {
    if (on_recorded_) on_recorded_(state);
  } catch (...) {
    // Callers of Wait and State still see the exit.
  }
}

void Container::DiscardOutput() {
  int fds[2] = {io_->master >= 0 ? io_->master : io_->stdout_fd,
                io_->master >= 0 ? -1 : io_->stderr_fd};
  char buf[4096];
  for (;;) {
    pollfd p[2];
    int n = 0;
    for (int fd : fds) {
      if (fd >= 0) p[n++] = {fd, POLLIN, 0};
    }
    if (n == 0) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (abandoned_) return;
    }
    if (poll(p, n, 200) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (p[i].revents == 0) continue;
      ssize_t r = read(p[i].fd, buf, sizeof(buf));
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) fds[p[i].fd == fds[0] ? 0 : 1] = -1;
    }
  }
}

lite::Status Container::Created(pid_t pid, std::unique_ptr<ProcessIo> io,
                                std::unique_ptr<CriLogWriter> log) {
  io_ = std::move(io);
  log_ = std::move(log);
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.pid = pid;
    state_.status = ContainerStatus::kCreated;
    Persist();
  }
  // Both threads exist before the container can run, so an exit never
  // needs a thread that a pids limit could refuse (the reaper cannot wait).
  try {
    pump_ = std::thread([this] {
      // A pipe nobody reads would block the workload once it fills.
      if (!Guarded(
              "output pump", [this] { Pump(); }, [this] { PumpFailed(); }))
        DiscardOutput();
    });
    finisher_ = std::thread([this] {
      Guarded(
          "exit recorder", [this] { AwaitExit(); },
          [this] { RecorderFailed(); });
    });
  } catch (const std::system_error& e) {
    std::lock_guard<std::mutex> lock(mu_);
    pump_done_ = pump_.joinable() ? pump_done_ : true;
    return lite::Status(
        lite::StatusCode::kResourceExhausted,
        lite::StrCat("no thread for container ", id(), ": ", e.what()));
  }
  return lite::OkStatus();
}

void Container::AwaitExit() {
  int exit_code = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [this] { return exit_pending_ || abandoned_; });
    if (!exit_pending_) return;
    exit_code = state_.exit_code;
  }
  Finish(exit_code);
}

void Container::Started() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_.status != ContainerStatus::kCreated) return;  // exited already
  state_.status = ContainerStatus::kRunning;
  state_.started_at = NowNanos();
  Persist();
}

void Container::SetPaused(bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  ContainerStatus from =
      paused ? ContainerStatus::kRunning : ContainerStatus::kPaused;
  if (state_.status != from) return;
  state_.status = paused ? ContainerStatus::kPaused : ContainerStatus::kRunning;
  Persist();
}

void Container::Pump() {
  using Clock = std::chrono::steady_clock;
  int fds[2] = {io_->master >= 0 ? io_->master : io_->stdout_fd,
                io_->master >= 0 ? -1 : io_->stderr_fd};
  char buf[32 * 1024];
  Clock::time_point drain_deadline = Clock::time_point::max();
  for (;;) {
    pollfd p[2];
    int n = 0;
    for (int fd : fds) {
      if (fd >= 0) p[n++] = {fd, POLLIN, 0};
    }
    if (n == 0) break;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (abandoned_) break;  // a create that failed after runc create
      if (state_.status == ContainerStatus::kStopped &&
          drain_deadline == Clock::time_point::max()) {
        drain_deadline = Clock::now() + kDrainLimit;
      }
    }
    if (Clock::now() > drain_deadline) break;
    if (poll(p, n, 200) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (p[i].revents == 0) continue;
      int which = p[i].fd == fds[0] ? 0 : 1;
      ssize_t r = read(p[i].fd, buf, sizeof(buf));
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      OutputStream stream =
          which == 0 ? OutputStream::kStdout : OutputStream::kStderr;
      if (r <= 0) {  // EOF, or EIO once a terminal's last writer is gone
        log_->Finish(stream);
        fds[which] = -1;
        continue;
      }
      std::string_view data(buf, r);
      log_->Write(stream, data);
      std::lock_guard<std::mutex> lock(sinks_mu_);
      for (auto& [token, sink] : sinks_) sink(stream, data);
    }
  }
  log_->Finish(OutputStream::kStdout);
  log_->Finish(OutputStream::kStderr);
  std::lock_guard<std::mutex> lock(mu_);
  pump_done_ = true;
  changed_.notify_all();
}

void Container::Exited(int exit_code) {
  // Recording waits for the output to drain, so the finisher does it, not
  // the reaper's thread.
  // A client's FIFOs get what is left in the pipes, then their end.
  if (io_ != nullptr) io_->ProcessExited();
  std::lock_guard<std::mutex> lock(mu_);
  state_.status = ContainerStatus::kStopped;
  state_.exit_code = exit_code;
  state_.exited_at = NowNanos();
  exit_pending_ = true;
  changed_.notify_all();
}

bool Container::OomKilled() {
  std::string dir = CgroupDirOf(request_.bundle, "memory");
  if (dir.empty()) return false;
  bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
  std::string text = lite::ReadFileOrEmpty(
      dir + (v2 ? "/memory.events" : "/memory.oom_control"));
  // A line "oom_kill N" with N > 0.
  constexpr std::string_view kKey = "oom_kill ";
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + at, end - at);
    if (line.substr(0, kKey.size()) == kKey &&
        strtoll(std::string(line.substr(kKey.size())).c_str(), nullptr, 10) >
            0) {
      return true;
    }
    at = end + 1;
  }
  return false;
}

void Container::Finish(int exit_code) {
  if (on_init_exit_) on_init_exit_();
  bool oom = exit_code == 128 + 9 && OomKilled();
  ContainerState state;
  {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, kDrainLimit + std::chrono::seconds(1),
                      [this] { return pump_done_; });
    state_.oom_killed = oom;
    Persist();
    recorded_ = true;
    state = state_;
    changed_.notify_all();
  }
  if (on_recorded_) on_recorded_(state);
  LogInfo(lite::StrCat("container=", id(), " exited with ", exit_code,
                       oom ? " (OOM killed)" : ""));
}

void Container::Persist() {
  if (int err =
          lite::WriteFileAtomic(state_file_, nlohmann::json(state_).dump());
      err != 0) {
    LogError(lite::StrCat("container=", id(),
                          " cannot record state: ", strerror(err)));
  }
}

ContainerState Container::State() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

bool Container::exited() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.status == ContainerStatus::kStopped;
}

ContainerState Container::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [this] { return recorded_; });
  return state_;
}

bool Container::WaitFor(std::chrono::milliseconds timeout,
                        ContainerState* state) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!changed_.wait_for(lock, timeout, [this] { return recorded_; })) {
    return false;
  }
  *state = state_;
  return true;
}

int Container::Subscribe(OutputSink sink) {
  std::lock_guard<std::mutex> lock(sinks_mu_);
  sinks_[next_token_] = std::move(sink);
  return next_token_++;
}

void Container::Unsubscribe(int token) {
  std::lock_guard<std::mutex> lock(sinks_mu_);
  sinks_.erase(token);
}

bool Container::WriteStdin(std::string_view data) {
  std::lock_guard<std::mutex> lock(stdin_mu_);
  int fd = io_ == nullptr ? -1 : io_->master >= 0 ? io_->master : io_->stdin_fd;
  return fd >= 0 && lite::WriteFully(fd, data);
}

void Container::CloseStdin() {
  std::lock_guard<std::mutex> lock(stdin_mu_);
  if (io_ == nullptr) return;
  if (io_->master >= 0) {
    // A terminal has no half-close: send end-of-file the terminal way.
    char eot = 4;
    (void)!write(io_->master, &eot, 1);
    return;
  }
  io_->CloseStdin();
}

void Container::Resize(unsigned width, unsigned height) {
  if (io_ != nullptr) io_->Resize(width, height);
}

lite::Status Container::ReopenLog() {
  if (log_ == nullptr)
    return lite::FailedPreconditionError("container has no log yet");
  return log_->Reopen();
}

}  // namespace cradle::shim
