#include "e2e/harness/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cgroups/membership.h"
#include "lite/files.h"
#include "process/process.h"

namespace cradle::e2e {
namespace {

namespace fs = std::filesystem;

constexpr auto kStartTimeout = std::chrono::seconds(15);
constexpr auto kStopTimeout = std::chrono::seconds(10);

// Whether `pid` (our child) has exited; reaps it if so.
bool Exited(pid_t pid) {
  int status;
  return waitpid(pid, &status, WNOHANG) == pid;
}

}  // namespace

std::string CradledPath() {
  for (std::string candidate :
       {std::string("cmd/cradled/cradled"),
        absl::StrCat(getenv("TEST_SRCDIR") ? getenv("TEST_SRCDIR") : ".",
                     "/cradle/cmd/cradled/cradled")}) {
    if (access(candidate.c_str(), X_OK) == 0)
      return fs::absolute(candidate).string();
  }
  return "cmd/cradled/cradled";
}

void UnmountBelow(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<std::string> targets;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() > 4 &&
        (fields[4] == dir || fields[4].rfind(dir + "/", 0) == 0)) {
      targets.push_back(fields[4]);
    }
  }
  std::sort(targets.begin(), targets.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  for (const std::string& t : targets) umount2(t.c_str(), MNT_DETACH);
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(DaemonOptions options) {
  std::unique_ptr<Daemon> d(new Daemon());
  char tmpl[] = "/tmp/cradle-e2e-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  d->dir_ = tmpl;
  // Like /run and /var/lib: root of a user-namespaced pod must pass through
  // to reach its rootfs (traverse, not list).
  chmod(tmpl, 0711);
  d->socket_ = d->dir_ + "/cradle.sock";
  d->config_path_ = d->dir_ + "/config.toml";
  std::ofstream(d->config_path_)
      << absl::StrCat("root = \"", d->root(), "\"\nstate = \"", d->state(),
                      "\"\nlog_level = \"debug\"\n", "[grpc]\naddress = \"",
                      d->socket_, "\"\n", options.extra_config, "\n");
  d->env_ = options.env;
  if (absl::Status s = d->Launch(); !s.ok()) return s;
  return d;
}

absl::Status Daemon::Launch() {
  struct stat before;
  ino_t stale_inode = stat(socket_.c_str(), &before) == 0 ? before.st_ino : 0;
  int log = open((dir_ + "/cradled.log").c_str(),
                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return absl::InternalError("open daemon log");
  SpawnOptions spawn;
  spawn.argv = {CradledPath(), "--config", config_path_};
  spawn.stdout_fd = log;
  spawn.stderr_fd = log;
  spawn.parent_death_signal = SIGKILL;  // nothing outlives a crashed test
  if (!env_.empty()) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.insert(env.end(), env_.begin(), env_.end());
    spawn.env = std::move(env);
  }
  absl::StatusOr<pid_t> pid = Spawn(spawn);
  close(log);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;

  // The socket appears only once it is listening (it is renamed into
  // place), so waiting for the file keeps the client out of gRPC's
  // reconnect backoff.
  auto deadline = std::chrono::system_clock::now() + kStartTimeout;
  // A stale socket left by a killed daemon does not count: wait for a new one.
  auto inode = [&]() -> ino_t {
    struct stat st;
    return stat(socket_.c_str(), &st) == 0 ? st.st_ino : 0;
  };
  while (inode() == 0 || inode() == stale_inode) {
    if (Exited(pid_)) {
      pid_ = 0;
      return absl::FailedPreconditionError("cradled exited at start:\n" +
                                           Log());
    }
    if (std::chrono::system_clock::now() > deadline) {
      return absl::DeadlineExceededError(
          "cradled did not create its socket:\n" + Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  channel_ = grpc::CreateChannel("unix://" + socket_,
                                 grpc::InsecureChannelCredentials());
  runtime_ = runtime::v1::RuntimeService::NewStub(channel_);
  images_ = runtime::v1::ImageService::NewStub(channel_);
  while (std::chrono::system_clock::now() < deadline) {
    if (Exited(pid_)) {
      pid_ = 0;
      return absl::FailedPreconditionError("cradled exited at start:\n" +
                                           Log());
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(500));
    runtime::v1::VersionRequest request;
    runtime::v1::VersionResponse response;
    if (runtime_->Version(&ctx, request, &response).ok())
      return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      "cradled did not answer Version in time:\n" + Log());
}

absl::Status Daemon::Stop(int signal) {
  if (pid_ == 0) return absl::OkStatus();
  kill(pid_, signal);
  auto deadline = std::chrono::system_clock::now() + kStopTimeout;
  while (!Exited(pid_)) {
    if (std::chrono::system_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = 0;
      return absl::DeadlineExceededError("cradled ignored the signal; killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = 0;
  return absl::OkStatus();
}

bool Daemon::WaitDied(int signal, int timeout_ms) {
  if (pid_ == 0) return false;
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      return WIFSIGNALED(status) && WTERMSIG(status) == signal;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

absl::Status Daemon::Restart() {
  if (absl::Status s = Stop(); !s.ok()) return s;
  return Launch();
}

std::string Daemon::Log() const {
  return lite::ReadFileOrEmpty(dir_ + "/cradled.log");
}

std::vector<HostProcess> HostProcesses() {
  std::vector<HostProcess> all;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    HostProcess p;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &p.pid)) continue;
    // A process may exit while we read: its cmdline is then just empty
    // (an istreambuf_iterator would throw on the ESRCH read).
    p.command_line = lite::ReadFileOrEmpty(entry.path() / "cmdline");
    std::replace(p.command_line.begin(), p.command_line.end(), '\0', ' ');
    while (!p.command_line.empty() && p.command_line.back() == ' ') {
      p.command_line.pop_back();
    }
    all.push_back(std::move(p));
  }
  return all;
}

pid_t FindHostProcess(const std::string& needle) {
  for (const HostProcess& p : HostProcesses()) {
    if (p.command_line.find(needle) != std::string::npos) return p.pid;
  }
  return 0;
}

// Shims and containers outlive cradled by design; a test's must not outlive
// the test.
void KillShimsAndContainers(const std::string& state) {
  // Each handler's runtime keeps its state in <state>/<handler name>; the
  // containerd API's tasks in <state>/containerd/runc/<namespace>.
  std::vector<std::pair<std::string, std::string>> roots;  // runtime, root
  for (const std::string runtime : {"runc", "crun"}) {
    roots.emplace_back(runtime, state + "/" + runtime);
  }
  std::error_code list_ec;
  for (const auto& ns :
       fs::directory_iterator(state + "/containerd/runc", list_ec)) {
    for (const std::string runtime : {"runc", "crun"}) {
      roots.emplace_back(runtime, ns.path().string());
    }
  }
  for (const auto& [runtime, root] : roots) {
    if (!FindProgram(runtime).ok() || access(root.c_str(), F_OK) != 0) continue;
    absl::StatusOr<RunResult> list =
        RunAndCapture(SpawnOptions{{runtime, "--root", root, "list", "-q"}});
    if (!list.ok()) continue;
    for (absl::string_view id :
         absl::StrSplit(list->out, '\n', absl::SkipEmpty())) {
      (void)RunAndCapture(SpawnOptions{
          {runtime, "--root", root, "delete", "--force", std::string(id)}});
    }
  }
  for (const HostProcess& p : HostProcesses()) {
    if (p.command_line.find("cradle-shim") != std::string::npos &&
        p.command_line.find(state + "/") != std::string::npos) {
      kill(p.pid, SIGKILL);
    }
  }
  std::error_code ec;
  // The cgroups the shims of this daemon's pods made for themselves; a
  // killed shim leaves its cgroup a moment later.
  for (const auto& pod : fs::directory_iterator(state + "/pods", ec)) {
    std::string cgroup =
        "/cradle-shims/" + pod.path().filename().string().substr(0, 12);
    for (int i = 0; i < 50; ++i) {
      if (RemoveCgroup(cgroup).code() != lite::StatusCode::kFailedPrecondition)
        break;
      usleep(20 * 1000);
    }
  }
}

Daemon::~Daemon() {
  (void)Stop(SIGTERM);
  KillShimsAndContainers(state());
  UnmountBelow(dir_);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace cradle::e2e
