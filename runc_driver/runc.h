// A C++ driver for the runc binary (runc's CLI is the contract).
//
// Every call runs `runc --root <root> --log <file> --log-format json ...`
// and turns a failure into a lite::Status carrying runc's own error message
// from that log, not a bare exit code. Calls are independent processes, so
// the driver is thread-safe. No absl: it is linked into the static shim.
#ifndef CRADLE_RUNC_DRIVER_RUNC_H_
#define CRADLE_RUNC_DRIVER_RUNC_H_

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lite/status.h"

namespace cradle {

struct RuncOptions {
  std::string binary = "runc";  // a path, or a name looked up in PATH
  std::string root;             // runc's state dir (--root); should be on tmpfs
  std::string log_dir;          // where per-call JSON logs are written
  bool systemd_cgroup = false;  // cgroupsPath is "slice:prefix:name"
  std::chrono::milliseconds timeout = std::chrono::minutes(2);
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

struct RuncCheckpointOptions {
  std::string image_path;  // CRIU writes its images here (must exist)
  std::string work_path;   // CRIU's dump.log and stats-dump
  // Keep the container running after the dump (the CRI's forensic
  // checkpoint); otherwise runc stops it.
  bool leave_running = true;
};

// How long a checkpoint may take when the caller gives no limit: CRIU
// dumps all of a container's memory, minutes for a big one, far past what
// RuncOptions::timeout allows the other commands.
inline constexpr std::chrono::minutes kDefaultCheckpointTimeout{10};

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
  static lite::StatusOr<std::unique_ptr<Runc>> New(RuncOptions options);

  // The binary, resolved to a path.
  const std::string& binary() const { return binary_; }
  // The runc version line ("runc version 1.1.5+ds1").
  lite::StatusOr<std::string> Version();
  lite::Status Create(std::string_view id, const RuncCreateOptions& options);
  lite::Status Start(std::string_view id);
  // Detached: 0 once started. Attached: the process's exit code.
  lite::StatusOr<int> Exec(std::string_view id, const RuncExecOptions& options);
  lite::Status Kill(std::string_view id, int signal, bool all = false);
  // NotFound when runc does not know the container.
  lite::Status Delete(std::string_view id, bool force = false);
  lite::StatusOr<RuncState> State(std::string_view id);
  lite::StatusOr<std::vector<RuncState>> List();
  lite::Status Pause(std::string_view id);
  lite::Status Resume(std::string_view id);
  // `resources_json`: an OCI LinuxResources object.
  lite::Status Update(std::string_view id, std::string_view resources_json);
  lite::StatusOr<std::vector<pid_t>> Ps(std::string_view id);
  // One `runc events --stats` sample, as runc prints it (JSON).
  lite::StatusOr<std::string> Stats(std::string_view id);
  // `runc checkpoint` (CRIU). A failure carries runc's error and CRIU's
  // own from work_path/dump.log: FailedPrecondition (CRIU cannot dump
  // here), NotFound (runc does not know the container), DeadlineExceeded
  // (still dumping after `timeout`, which replaces RuncOptions::timeout
  // for this call; runc is then killed).
  lite::Status Checkpoint(
      std::string_view id, const RuncCheckpointOptions& options,
      std::chrono::milliseconds timeout = kDefaultCheckpointTimeout);

 private:
  explicit Runc(RuncOptions options, std::string binary)
      : options_(std::move(options)), binary_(std::move(binary)) {}

  struct Outcome {
    int exit_code = 0;
    std::string out;
  };
  // Runs one runc command. With `stdio`, the command's stdio is the
  // container's and output is not captured. `timeout`, when given,
  // replaces RuncOptions::timeout.
  lite::StatusOr<Outcome> Call(
      const std::vector<std::string>& args, const Stdio* stdio,
      std::string_view input = "", std::vector<int> extra_fds = {},
      std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  std::vector<std::string> GlobalArgs(const std::string& log_file) const;

  const RuncOptions options_;
  const std::string binary_;
};

// The linux.cgroupsPath the bundle's config.json gave runc; empty when the
// file is unreadable or sets none.
std::string BundleCgroupsPath(const std::string& bundle);

// Whether the bundle's container gets a PID namespace of its own (its
// init's death then ends everything in it); false when it joins the pod's
// or the host's, where its other processes outlive the init.
bool BundleHasOwnPidNamespace(const std::string& bundle);

// Reads runc's JSON log and returns the messages at level error or fatal,
// joined; empty when there are none. Exposed for tests.
std::string RuncErrorFromLog(std::string_view log);

// The last "Error (...)" lines of a CRIU log (dump.log), joined; empty
// when it has none. Exposed for tests.
std::string CriuErrorFromLog(std::string_view log);

}  // namespace cradle

#endif  // CRADLE_RUNC_DRIVER_RUNC_H_
