#include "process/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "process/reaper.h"

namespace cradle {
namespace {

std::string ErrnoText(int err) { return strerror(err); }

// Moves `fd` out of the range [0, limit) so dup2-ing into that range cannot
// clobber it. Child-side only: async-signal-safe calls.
int Lift(int fd, int limit) {
  if (fd < 0 || fd >= limit) return fd;
  return fcntl(fd, F_DUPFD, limit);
}

[[noreturn]] void ChildFail(int report_fd, int err) {
  (void)!write(report_fd, &err, sizeof(err));
  _exit(127);
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (signal != 0)
    return lite::StrCat("killed by signal ", signal, " (", strsignal(signal),
                        ")");
  return lite::StrCat("exit code ", exit_code);
}

ExitStatus ExitStatus::FromWait(int wait_status) {
  ExitStatus exit;
  if (WIFEXITED(wait_status)) exit.exit_code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) {
    exit.signal = WTERMSIG(wait_status);
    exit.exit_code = 128 + exit.signal;
  }
  return exit;
}

namespace lite {

StatusOr<std::string> FindProgram(std::string_view name) {
  if (name.empty()) return InvalidArgumentError("empty program name");
  if (name.find('/') != std::string_view::npos) return std::string(name);
  const char* env_path = getenv("PATH");
  std::string_view path =
      env_path ? env_path
               : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  while (true) {
    size_t colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    if (!dir.empty()) {
      std::string candidate = StrCat(dir, "/", name);
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return NotFoundError(StrCat("program \"", name, "\" not found in PATH"));
}

StatusOr<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return InvalidArgumentError("spawn: empty argv");
  StatusOr<std::string> program = FindProgram(options.argv[0]);
  if (!program.ok()) return program.status();

  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed in a threaded process.
  std::vector<char*> argv;
  for (const std::string& a : options.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  if (options.env) {
    for (const std::string& e : *options.env)
      envp.push_back(const_cast<char*>(e.c_str()));
  } else {
    // systemd's NOTIFY_SOCKET is cradled's alone: a runc that sees it
    // proxies the container's sd_notify and `runc start` waits for the
    // container's READY=1, which most never send.
    for (char** e = environ; *e != nullptr; ++e) {
      if (strncmp(*e, "NOTIFY_SOCKET=", 14) != 0) envp.push_back(*e);
    }
  }
  envp.push_back(nullptr);
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return InternalError("open /dev/null: " + ErrnoText(errno));
  // The child reports a failed exec through this pipe; it closes on success.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    close(null_fd);
    return InternalError("pipe: " + ErrnoText(errno));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(null_fd);
    close(report[0]);
    close(report[1]);
    return Status(StatusCode::kResourceExhausted, "fork: " + ErrnoText(err));
  }
  if (pid == 0) {
    // Unblock everything the daemon blocked for its signal thread.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s) {
      if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    }
    if (options.parent_death_signal != 0) {
      prctl(PR_SET_PDEATHSIG, options.parent_death_signal);
      if (getppid() != parent) _exit(127);
    }
    if (options.new_session && setsid() < 0) ChildFail(report[1], errno);
    umask(options.umask);
    int limit = 3 + static_cast<int>(options.extra_fds.size());
    int report_fd = Lift(report[1], limit);
    int in = Lift(options.stdin_fd < 0 ? null_fd : options.stdin_fd, limit);
    int out = Lift(options.stdout_fd < 0 ? null_fd : options.stdout_fd, limit);
    int err = Lift(options.stderr_fd < 0 ? null_fd : options.stderr_fd, limit);
    int extra[64];
    size_t n_extra =
        options.extra_fds.size() < 64 ? options.extra_fds.size() : 64;
    for (size_t i = 0; i < n_extra; ++i)
      extra[i] = Lift(options.extra_fds[i], limit);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
      ChildFail(report_fd, errno);
    for (size_t i = 0; i < n_extra; ++i) {
      if (dup2(extra[i], 3 + static_cast<int>(i)) < 0)
        ChildFail(report_fd, errno);
    }
    // Close everything past what the child is given, except the report pipe
    // (close-on-exec, so exec closes it).
    if (report_fd > limit) syscall(SYS_close_range, limit, report_fd - 1, 0);
    syscall(SYS_close_range, report_fd + 1, ~0U, 0);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0)
      ChildFail(report_fd, errno);
    execve(program->c_str(), argv.data(), envp.data());
    ChildFail(report_fd, errno);
  }
  close(null_fd);
  close(report[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == sizeof(child_errno)) {
    waitpid(pid, nullptr, 0);
    std::string what = StrCat("start ", *program, ": ", ErrnoText(child_errno));
    if (child_errno == ENOENT) return NotFoundError(what);
    if (child_errno == EACCES)
      return Status(StatusCode::kPermissionDenied, what);
    return InternalError(what);
  }
  return pid;
}

StatusOr<ExitStatus> WaitFor(pid_t pid) {
  if (Reaper* reaper = Reaper::Get()) return reaper->Wait(pid);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return InternalError(StrCat("waitpid ", pid, ": ", ErrnoText(errno)));
  }
  return ExitStatus::FromWait(status);
}

StatusOr<RunResult> RunAndCapture(const SpawnOptions& spawn_options,
                                  std::string_view input,
                                  std::chrono::milliseconds timeout,
                                  size_t max_output) {
  using Clock = std::chrono::steady_clock;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0)
    return InternalError("pipe: " + ErrnoText(errno));
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return InternalError("pipe: " + ErrnoText(errno));
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    for (int fd : {in[0], in[1], out[0], out[1]}) close(fd);
    return InternalError("pipe: " + ErrnoText(errno));
  }
  SpawnOptions options = spawn_options;
  options.stdin_fd = in[0];
  options.stdout_fd = out[1];
  options.stderr_fd = err[1];
  StatusOr<pid_t> pid = Spawn(options);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!pid.ok()) {
    for (int fd : {in[1], out[0], err[0]}) close(fd);
    return pid.status();
  }
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  RunResult result;
  size_t written = 0;
  int in_fd = in[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  // A timeout past what the clock can hold (milliseconds::max() for "no
  // limit") saturates instead of overflowing.
  Clock::time_point now = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();
  if (timeout <= std::chrono::milliseconds::zero()) {
    deadline = now;
  } else if (timeout < std::chrono::duration_cast<std::chrono::milliseconds>(
                           Clock::time_point::max() - now)) {
    deadline = now + timeout;
  }
  int open_outputs = 2;
  int fds[2] = {out[0], err[0]};
  std::string* sinks[2] = {&result.out, &result.err};
  while (open_outputs > 0 || in_fd >= 0) {
    pollfd pfds[3];
    int n = 0;
    for (int i = 0; i < 2; ++i) {
      if (fds[i] >= 0) pfds[n++] = {fds[i], POLLIN, 0};
    }
    if (in_fd >= 0) pfds[n++] = {in_fd, POLLOUT, 0};
    Clock::duration left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) {
      result.timed_out = true;
      kill(*pid, SIGKILL);
      break;
    }
    int64_t left_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
    int ready = poll(pfds, n,
                     static_cast<int>(std::min<int64_t>(left_ms + 1, INT_MAX)));
    if (ready < 0 && errno != EINTR) break;
    for (int p = 0; p < n; ++p) {
      if (pfds[p].revents == 0) continue;
      if (pfds[p].fd == in_fd) {
        ssize_t w =
            write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += w;
        if (w < 0 && errno != EAGAIN) written = input.size();
        if (written == input.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      for (int i = 0; i < 2; ++i) {
        if (pfds[p].fd != fds[i]) continue;
        char buf[65536];
        ssize_t r = read(fds[i], buf, sizeof(buf));
        if (r > 0) {
          size_t room = max_output - std::min(max_output, sinks[i]->size());
          sinks[i]->append(buf, std::min<size_t>(room, r));
        } else if (r == 0 || errno != EINTR) {
          close(fds[i]);
          fds[i] = -1;
          --open_outputs;
        }
      }
    }
  }
  for (int fd : {fds[0], fds[1], in_fd}) {
    if (fd >= 0) close(fd);
  }
  StatusOr<ExitStatus> status = WaitFor(*pid);
  if (!status.ok()) return status.status();
  result.status = *status;
  return result;
}

}  // namespace lite
}  // namespace cradle
