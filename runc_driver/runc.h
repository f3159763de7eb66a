// A C++ driver for the runc binary (runc's CLI is the contract).
//
// Every call runs `runc --root <root> --log <file> --log-format json ...`
// and turns a failure into an absl::Status carrying runc's own error message
// from that log, not a bare exit code. Calls are independent processes, so
// the driver is thread-safe.
#ifndef CRADLE_RUNC_DRIVER_RUNC_H_
#define CRADLE_RUNC_DRIVER_RUNC_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cradle {

struct RuncOptions {
  std::string binary = "runc";  // a path, or a name looked up in PATH
  std::string root;             // runc's state dir (--root); should be on tmpfs
  std::string log_dir;          // where per-call JSON logs are written
  bool systemd_cgroup = false;  // cgroupsPath is "slice:prefix:name"
  absl::Duration timeout = absl::Minutes(2);
};

// The container's stdio as runc hands it on; -1 means /dev/null.
struct Stdio {
  int in = -1;
  int out = -1;
  int err = -1;
};

struct RuncCreateOptions {
  std::string bundle;          // holds config.json and the rootfs
  std::string pid_file;        // runc writes the init pid here
  std::string console_socket;  // for a TTY: receives the pty master
  bool no_pivot = false;
  Stdio stdio;
};

struct RuncExecOptions {
  std::string process_json;  // path of an OCI process JSON
  std::string pid_file;
  std::string console_socket;
  // Detached: runc returns once the process runs; the caller reaps it as
  // subreaper. Attached: the call returns the process's exit code.
  bool detach = true;
  Stdio stdio;
};

struct RuncState {
  std::string id;
  pid_t pid = 0;
  std::string status;  // "created", "running", "paused", "stopped"
  std::string bundle;
  std::string created;  // RFC 3339
  std::map<std::string, std::string> annotations;
};

class Runc {
 public:
  // FailedPrecondition when the binary cannot be found.
  static absl::StatusOr<std::unique_ptr<Runc>> New(RuncOptions options);

  // The runc version line ("runc version 1.1.5+ds1").
  absl::StatusOr<std::string> Version();
  absl::Status Create(absl::string_view id, const RuncCreateOptions& options);
  absl::Status Start(absl::string_view id);
  // Detached: 0 once started. Attached: the process's exit code.
  absl::StatusOr<int> Exec(absl::string_view id,
                           const RuncExecOptions& options);
  absl::Status Kill(absl::string_view id, int signal, bool all = false);
  // NotFound when runc does not know the container.
  absl::Status Delete(absl::string_view id, bool force = false);
  absl::StatusOr<RuncState> State(absl::string_view id);
  absl::StatusOr<std::vector<RuncState>> List();
  absl::Status Pause(absl::string_view id);
  absl::Status Resume(absl::string_view id);
  // `resources_json`: an OCI LinuxResources object.
  absl::Status Update(absl::string_view id, absl::string_view resources_json);
  absl::StatusOr<std::vector<pid_t>> Ps(absl::string_view id);
  // One `runc events --stats` sample, as runc prints it (JSON).
  absl::StatusOr<std::string> Stats(absl::string_view id);

 private:
  explicit Runc(RuncOptions options, std::string binary)
      : options_(std::move(options)), binary_(std::move(binary)) {}

  struct Outcome {
    int exit_code = 0;
    std::string out;
  };
  // Runs one runc command. With `stdio`, the command's stdio is the
  // container's and output is not captured.
  absl::StatusOr<Outcome> Call(const std::vector<std::string>& args,
                               const Stdio* stdio, absl::string_view input = "",
                               std::vector<int> extra_fds = {});
  std::vector<std::string> GlobalArgs(const std::string& log_file) const;

  const RuncOptions options_;
  const std::string binary_;
};

// Reads runc's JSON log and returns the messages at level error or fatal,
// joined; empty when there are none. Exposed for tests.
std::string RuncErrorFromLog(absl::string_view log);

}  // namespace cradle

#endif  // CRADLE_RUNC_DRIVER_RUNC_H_
