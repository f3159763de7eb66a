// Starting child processes without leaking the daemon's file descriptors.
//
// Every fd the project opens is close-on-exec, and the child closes all
// others past the ones it is handed, so a container, a runc or a CNI plugin
// never holds a socket or lock of the daemon's.
#ifndef CRADLE_PROCESS_PROCESS_H_
#define CRADLE_PROCESS_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cradle {

struct SpawnOptions {
  std::vector<std::string>
      argv;  // argv[0] is the program: a path or a PATH name
  // The environment; std::nullopt inherits the caller's.
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
};

// Starts the process and returns its pid; the caller reaps it. NotFound when
// the program does not exist, PermissionDenied when it cannot be executed.
absl::StatusOr<pid_t> Spawn(const SpawnOptions& options);

struct ExitStatus {
  int exit_code = 0;  // when exited normally
  int signal = 0;     // when killed by a signal (0 otherwise)
  bool ok() const { return signal == 0 && exit_code == 0; }
  std::string ToString() const;
};

// Waits for `pid` (blocking). Retries on EINTR.
absl::StatusOr<ExitStatus> WaitFor(pid_t pid);

struct RunResult {
  ExitStatus status;
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Runs a program to completion, feeding `input` to its stdin and capturing
// stdout and stderr (each cut at `max_output` bytes). After `timeout` the
// process gets SIGKILL and timed_out is set.
absl::StatusOr<RunResult> RunAndCapture(
    const SpawnOptions& options, absl::string_view input = "",
    absl::Duration timeout = absl::Minutes(1), size_t max_output = 16 << 20);

// Looks a bare program name up in PATH (a name with a "/" is returned as
// is). NotFound when it is not there.
absl::StatusOr<std::string> FindProgram(absl::string_view name);

}  // namespace cradle

#endif  // CRADLE_PROCESS_PROCESS_H_
