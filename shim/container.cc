#include "shim/container.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace cradle::shim {
namespace {

// Output still buffered in a pipe after the init exits is drained for at
// most this long: a daemonized grandchild may keep the pipe open forever.
constexpr absl::Duration kDrainLimit = absl::Seconds(2);

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string CgroupDirOf(const std::string& bundle,
                        const std::string& controller) {
  nlohmann::json spec =
      nlohmann::json::parse(ReadSmallFile(bundle + "/config.json"), nullptr,
                            /*allow_exceptions=*/false);
  if (!spec.is_object()) return "";
  std::string path = spec.value("/linux/cgroupsPath"_json_pointer, "");
  if (path.empty() || path[0] != '/') return "";  // systemd form: not handled
  bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
  return v2 ? "/sys/fs/cgroup" + path : "/sys/fs/cgroup/" + controller + path;
}

Container::Container(v1::CreateRequest request, std::string state_file)
    : request_(std::move(request)), state_file_(std::move(state_file)) {
  absl::MutexLock lock(&mu_);
  state_.set_id(request_.id());
  state_.set_bundle(request_.bundle());
  state_.set_log_path(request_.log_path());
  state_.set_status(v1::UNKNOWN);
}

Container::~Container() {
  if (pump_.joinable()) pump_.join();
  if (finisher_.joinable()) finisher_.join();
  unlink(state_file_.c_str());
}

void Container::Created(pid_t pid, std::unique_ptr<ProcessIo> io,
                        std::unique_ptr<CriLogWriter> log) {
  io_ = std::move(io);
  log_ = std::move(log);
  {
    absl::MutexLock lock(&mu_);
    state_.set_pid(pid);
    state_.set_status(v1::CREATED);
    Persist();
  }
  pump_ = std::thread([this] { Pump(); });
}

void Container::Started() {
  absl::MutexLock lock(&mu_);
  if (state_.status() != v1::CREATED) return;  // exited already
  state_.set_status(v1::RUNNING);
  state_.set_started_at(absl::ToUnixNanos(absl::Now()));
  Persist();
}

void Container::Pump() {
  int fds[2] = {io_->master >= 0 ? io_->master : io_->stdout_fd,
                io_->master >= 0 ? -1 : io_->stderr_fd};
  char buf[32 * 1024];
  absl::Time drain_deadline = absl::InfiniteFuture();
  for (;;) {
    pollfd p[2];
    int n = 0;
    for (int fd : fds) {
      if (fd >= 0) p[n++] = {fd, POLLIN, 0};
    }
    if (n == 0) break;
    {
      absl::MutexLock lock(&mu_);
      if (state_.status() == v1::STOPPED &&
          drain_deadline == absl::InfiniteFuture()) {
        drain_deadline = absl::Now() + kDrainLimit;
      }
    }
    if (absl::Now() > drain_deadline) break;
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
      absl::string_view data(buf, r);
      log_->Write(stream, data);
      absl::MutexLock lock(&sinks_mu_);
      for (auto& [token, sink] : sinks_) sink(stream, data);
    }
  }
  log_->Finish(OutputStream::kStdout);
  log_->Finish(OutputStream::kStderr);
  absl::MutexLock lock(&mu_);
  pump_done_ = true;
}

void Container::Exited(int exit_code) {
  {
    absl::MutexLock lock(&mu_);
    state_.set_status(v1::STOPPED);
    state_.set_exit_code(exit_code);
    state_.set_exited_at(absl::ToUnixNanos(absl::Now()));
  }
  // Recording waits for the output to drain, so not on the reaper thread.
  finisher_ = std::thread([this, exit_code] { Finish(exit_code); });
}

bool Container::OomKilled() {
  std::string dir = CgroupDirOf(request_.bundle(), "memory");
  if (dir.empty()) return false;
  bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
  std::string text =
      ReadSmallFile(dir + (v2 ? "/memory.events" : "/memory.oom_control"));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    int64_t count = 0;
    if (absl::ConsumePrefix(&line, "oom_kill ") &&
        absl::SimpleAtoi(line, &count) && count > 0) {
      return true;
    }
  }
  return false;
}

void Container::Finish(int exit_code) {
  bool oom = exit_code == 128 + 9 && OomKilled();
  v1::ContainerState state;
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&pump_done_),
                         kDrainLimit + absl::Seconds(1));
    state_.set_oom_killed(oom);
    Persist();
    recorded_ = true;
    state = state_;
  }
  if (on_recorded_) on_recorded_(state);
  LOG(INFO) << "container=" << id() << " exited with " << exit_code
            << (oom ? " (OOM killed)" : "");
}

void Container::Persist() {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(state_, &json);
  std::string tmp = state_file_ + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    LOG(ERROR) << "container=" << id()
               << " cannot record state: " << strerror(errno);
    return;
  }
  bool ok = write(fd, json.data(), json.size()) ==
                static_cast<ssize_t>(json.size()) &&
            fsync(fd) == 0;
  close(fd);
  if (ok) rename(tmp.c_str(), state_file_.c_str());
}

v1::ContainerState Container::State() {
  absl::MutexLock lock(&mu_);
  return state_;
}

pid_t Container::pid() {
  absl::MutexLock lock(&mu_);
  return state_.pid();
}

bool Container::exited() {
  absl::MutexLock lock(&mu_);
  return state_.status() == v1::STOPPED;
}

v1::ContainerState Container::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&recorded_));
  return state_;
}

int Container::Subscribe(OutputSink sink) {
  absl::MutexLock lock(&sinks_mu_);
  sinks_[next_token_] = std::move(sink);
  return next_token_++;
}

void Container::Unsubscribe(int token) {
  absl::MutexLock lock(&sinks_mu_);
  sinks_.erase(token);
}

bool Container::WriteStdin(absl::string_view data) {
  absl::MutexLock lock(&stdin_mu_);
  int fd = io_ == nullptr ? -1 : io_->master >= 0 ? io_->master : io_->stdin_fd;
  if (fd < 0) return false;
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(n);
  }
  return true;
}

void Container::CloseStdin() {
  absl::MutexLock lock(&stdin_mu_);
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
  if (io_ != nullptr) ResizeTerminal(io_->master, width, height);
}

absl::Status Container::ReopenLog() {
  if (log_ == nullptr)
    return absl::FailedPreconditionError("container has no log yet");
  return log_->Reopen();
}

}  // namespace cradle::shim
