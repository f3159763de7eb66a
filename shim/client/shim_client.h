// cradled's side of a pod's shim: starting it, finding it again after a
// daemon restart, and the calls the CRI layer makes through it
// (shim/api/protocol.h on the shim's unix socket).
#ifndef CRADLE_SHIM_CLIENT_SHIM_CLIENT_H_
#define CRADLE_SHIM_CLIENT_SHIM_CLIENT_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "shim/api/protocol.h"

namespace cradle {

// The cgroupfs parent every shim cradled launches gets a cgroup of its own
// under (the CRI's pod shims, the containerd API's task shims): outside
// cradled's own cgroup, so restarting the daemon (systemd's
// KillMode=control-group) does not kill the shims, and outside any pod's
// cgroup, so a pod's limits never starve the process that manages it.
inline constexpr char kShimCgroupParent[] = "/cradle-shims";

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

// One Exec, Attach or Events call in progress. Sends are thread-safe; one
// thread reads.
class ShimStream {
 public:
  struct Output {
    enum Kind { kStdout, kStderr, kExit, kEvent } kind = kStdout;
    std::string data;       // kStdout, kStderr
    int exit_code = 0;      // kExit
    shim::ExitEvent event;  // kEvent
  };

  explicit ShimStream(int fd) : fd_(fd) {}
  ~ShimStream();
  ShimStream(const ShimStream&) = delete;
  ShimStream& operator=(const ShimStream&) = delete;

  absl::Status SendStdin(absl::string_view data);
  absl::Status CloseStdin();
  absl::Status Resize(uint32_t width, uint32_t height);
  // Exec only: signals the process; its exit still comes as kExit.
  absl::Status Kill(int signal);
  // The next output; false once the stream has ended.
  bool Read(Output* out);
  // Ends the stream from this side, from any thread: the shim kills an
  // exec's process and detaches an attach. A blocked Read returns false.
  void Cancel();

 private:
  absl::Status Send(shim::FrameType type, absl::string_view payload);

  const int fd_;
  std::mutex write_mu_;
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
  // Proof that no shim serves `socket`: the file is gone, or connecting is
  // refused (a killed shim leaves its socket file with no listener). A shim
  // that is merely stopped or slow still accepts connections: not gone.
  static bool Gone(const std::string& socket);

  absl::StatusOr<int> Create(const shim::CreateRequest& request);
  absl::StatusOr<shim::ContainerState> Start(const std::string& id);
  // DeadlineExceeded within seconds when the shim does not answer.
  absl::Status Kill(const std::string& id, int signal, bool all = false);
  absl::StatusOr<shim::ContainerState> Delete(const std::string& id);
  absl::StatusOr<shim::ContainerState> State(
      const std::string& id, absl::Duration timeout = absl::Seconds(10));
  absl::StatusOr<std::vector<shim::ContainerState>> List(
      absl::Duration timeout = absl::Seconds(10));
  // Waits at most `timeout`; DeadlineExceeded when still running.
  absl::StatusOr<shim::ContainerState> Wait(const std::string& id,
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
  // Streams: the shim has accepted the call when these return OK.
  absl::StatusOr<std::unique_ptr<ShimStream>> Exec(
      const shim::ExecStart& start);
  absl::StatusOr<std::unique_ptr<ShimStream>> Attach(const std::string& id);
  // Exits of this shim's containers as they are recorded.
  absl::StatusOr<std::unique_ptr<ShimStream>> Events();
  absl::Status Pause(const std::string& id);
  absl::Status Resume(const std::string& id);
  // Every process of the container (runc ps).
  absl::StatusOr<std::vector<int>> Pids(const std::string& id);

  // Detached processes by exec id (shim::ProcessStart); the pid.
  absl::StatusOr<int> StartProcess(const shim::ProcessStart& start);
  // `id` of the state is the exec id.
  absl::StatusOr<shim::ContainerState> ProcessState(const std::string& id,
                                                    const std::string& exec_id);
  // Waits at most `timeout`; DeadlineExceeded when still running.
  absl::StatusOr<shim::ContainerState> WaitProcess(const std::string& id,
                                                   const std::string& exec_id,
                                                   absl::Duration timeout);
  absl::Status KillProcess(const std::string& id, const std::string& exec_id,
                           int signal);
  // FailedPrecondition while it runs.
  absl::StatusOr<shim::ContainerState> DeleteProcess(
      const std::string& id, const std::string& exec_id);
  absl::Status CloseProcessStdin(const std::string& id,
                                 const std::string& exec_id);
  // Sets the window of its terminal (none: nothing happens).
  absl::Status ResizeProcess(const std::string& id, const std::string& exec_id,
                             uint32_t width, uint32_t height);

  absl::StatusOr<int> ShimPid();
  // OK when the shim answers a trivial call within `timeout`.
  absl::Status Ping(absl::Duration timeout = absl::Milliseconds(500));
  // Asks the shim to exit; FailedPrecondition while it has containers.
  absl::Status Shutdown();

 private:
  explicit ShimClient(std::string socket) : socket_(std::move(socket)) {}
  // Connects and sends a request; the fd of the connection.
  absl::StatusOr<int> Open(const nlohmann::json& request);
  // A unary call: the reply's result.
  absl::StatusOr<nlohmann::json> Call(const nlohmann::json& request,
                                      absl::Duration timeout);
  absl::StatusOr<shim::ContainerState> StateCall(
      const char* method, const std::string& id, absl::Duration timeout,
      const std::string& exec_id = "");
  absl::StatusOr<std::unique_ptr<ShimStream>> OpenStream(
      const nlohmann::json& request,
      absl::Duration accept_timeout = absl::Minutes(2));

  const std::string socket_;
};

}  // namespace cradle

#endif  // CRADLE_SHIM_CLIENT_SHIM_CLIENT_H_
