// cradled's side of a pod's shim: starting it, finding it again after a
// daemon restart, and the calls the CRI layer makes through it.
#ifndef CRADLE_SHIM_CLIENT_SHIM_CLIENT_H_
#define CRADLE_SHIM_CLIENT_SHIM_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/api/shim.grpc.pb.h"

namespace cradle {

struct ShimLaunchOptions {
  std::string binary;     // cradle-shim
  std::string socket;     // where it serves
  std::string state_dir;  // its per-container state files
  std::string runc_root;
  std::string runc_binary = "runc";
  bool systemd_cgroup = false;
  std::string log_file;  // the shim's own log
  std::string cgroup;    // the shim's own cgroup ("/a/b"); empty: stay put
};

struct ExecSyncResult {
  int exit_code = 0;
  std::string stdout_data;
  std::string stderr_data;
  bool timed_out = false;
};

class ShimClient {
 public:
  // Starts a shim and returns once it serves (or with its reason not to).
  static absl::StatusOr<std::unique_ptr<ShimClient>> Launch(
      const ShimLaunchOptions& options);
  // Reconnects to a shim that is already running. Unavailable when none
  // answers on `socket`.
  static absl::StatusOr<std::unique_ptr<ShimClient>> Connect(
      const std::string& socket);

  absl::StatusOr<int> Create(const shim::v1::CreateRequest& request);
  absl::StatusOr<shim::v1::ContainerState> Start(const std::string& id);
  absl::Status Kill(const std::string& id, int signal, bool all = false);
  absl::StatusOr<shim::v1::ContainerState> Delete(const std::string& id);
  absl::StatusOr<shim::v1::ContainerState> State(const std::string& id);
  absl::StatusOr<std::vector<shim::v1::ContainerState>> List();
  // Waits at most `timeout`; DeadlineExceeded when still running.
  absl::StatusOr<shim::v1::ContainerState> Wait(const std::string& id,
                                                absl::Duration timeout);
  absl::Status ReopenLog(const std::string& id);
  absl::Status Update(const std::string& id, const std::string& resources);
  absl::Status CloseStdin(const std::string& id);
  absl::Status Resize(const std::string& id, uint32_t width, uint32_t height);
  // Runs a command to completion; after `timeout` (zero: none) the process
  // is killed and timed_out is set. Output is cut at `max_output` bytes.
  absl::StatusOr<ExecSyncResult> ExecSync(const std::string& id,
                                          const std::vector<std::string>& args,
                                          absl::Duration timeout,
                                          size_t max_output = 16 << 20);
  absl::StatusOr<int> ShimPid();
  // Asks the shim to exit; FailedPrecondition while it has containers.
  absl::Status Shutdown();

  shim::v1::Shim::Stub* stub() { return stub_.get(); }

 private:
  explicit ShimClient(std::unique_ptr<shim::v1::Shim::Stub> stub)
      : stub_(std::move(stub)) {}
  std::unique_ptr<shim::v1::Shim::Stub> stub_;
};

}  // namespace cradle

#endif  // CRADLE_SHIM_CLIENT_SHIM_CLIENT_H_
