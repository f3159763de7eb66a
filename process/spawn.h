// Starting child processes without leaking the caller's file descriptors,
// with nothing but the standard library and lite::Status, so cradle-shim can
// use it (process/process.h is the same API in absl types, for the daemon).
//
// Every fd the project opens is close-on-exec, and the child closes all
// others past the ones it is handed, so a container, a runc or a CNI plugin
// never holds a socket or lock of the daemon's.
#ifndef CRADLE_PROCESS_SPAWN_H_
#define CRADLE_PROCESS_SPAWN_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lite/status.h"

namespace cradle {

struct SpawnOptions {
  std::vector<std::string>
      argv;  // argv[0] is the program: a path or a PATH name
  // The environment; std::nullopt inherits the caller's, less NOTIFY_SOCKET
  // (systemd's notify socket is for the daemon, never for runc or a shim).
  std::optional<std::vector<std::string>> env;
  std::string cwd;  // empty: the caller's
  // The child's stdin/stdout/stderr; -1 means /dev/null.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Further fds the child gets as 3, 4, ... in this order.
  std::vector<int> extra_fds;
  bool new_session = false;     // setsid(): own session and process group
  int parent_death_signal = 0;  // PR_SET_PDEATHSIG, 0 for none
  // The child's umask. The conventional one by default, not the caller's:
  // cradled and the shim keep 077 for their own files, but runc creates
  // mount points inside the container's rootfs that its users must reach.
  mode_t umask = 022;
};

struct ExitStatus {
  int exit_code = 0;  // when exited normally
  int signal = 0;     // when killed by a signal (0 otherwise)
  bool ok() const { return signal == 0 && exit_code == 0; }
  std::string ToString() const;
  // From waitpid()'s status; a signal also sets exit_code to 128 + signal,
  // as shells and the CRI report it.
  static ExitStatus FromWait(int wait_status);
};

struct RunResult {
  ExitStatus status;
  std::string out;
  std::string err;
  bool timed_out = false;
};

namespace lite {

// Starts the process and returns its pid; the caller reaps it. NotFound when
// the program does not exist, PermissionDenied when it cannot be executed.
StatusOr<pid_t> Spawn(const SpawnOptions& options);

// Waits for `pid` (blocking), through the Reaper when one is installed.
// Retries on EINTR.
StatusOr<ExitStatus> WaitFor(pid_t pid);

// Runs a program to completion, feeding `input` to its stdin and capturing
// stdout and stderr (each cut at `max_output` bytes). After `timeout` the
// process gets SIGKILL and timed_out is set.
StatusOr<RunResult> RunAndCapture(
    const SpawnOptions& options, std::string_view input = "",
    std::chrono::milliseconds timeout = std::chrono::minutes(1),
    size_t max_output = 16 << 20);

// Looks a bare program name up in PATH (a name with a "/" is returned as
// is). NotFound when it is not there.
StatusOr<std::string> FindProgram(std::string_view name);

}  // namespace lite
}  // namespace cradle

#endif  // CRADLE_PROCESS_SPAWN_H_
