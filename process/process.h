// The daemon's face of process/spawn.h: the same calls in absl types.
//
// Every fd the project opens is close-on-exec, and the child closes all
// others past the ones it is handed, so a container, a runc or a CNI plugin
// never holds a socket or lock of the daemon's.
#ifndef CRADLE_PROCESS_PROCESS_H_
#define CRADLE_PROCESS_PROCESS_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "process/spawn.h"

namespace cradle {

// Starts the process and returns its pid; the caller reaps it. NotFound when
// the program does not exist, PermissionDenied when it cannot be executed.
absl::StatusOr<pid_t> Spawn(const SpawnOptions& options);

// Waits for `pid` (blocking). Retries on EINTR.
absl::StatusOr<ExitStatus> WaitFor(pid_t pid);

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
