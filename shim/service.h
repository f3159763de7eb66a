// The shim's calls (shim/api/protocol.h) over runc, for one pod. The
// server (shim/server.h) decodes requests and calls these.
#ifndef CRADLE_SHIM_SERVICE_H_
#define CRADLE_SHIM_SERVICE_H_

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "lite/status.h"
#include "process/reaper.h"
#include "runc_driver/runc.h"
#include "shim/api/protocol.h"
#include "shim/container.h"

namespace cradle::shim {

// The client's end of a stream call (Exec, Attach, Events).
class StreamConnection {
 public:
  explicit StreamConnection(int fd) : fd_(fd) {}
  int fd() const { return fd_; }
  // Thread-safe. False once the client is gone.
  bool Send(FrameType type, std::string_view payload);
  bool Reply(const lite::Status& status,
             const nlohmann::json& result = nlohmann::json()) {
    std::string reply = EncodeReply(status, result);
    replied_ = true;
    return Send(FrameType::kReply, reply);
  }
  // A call is answered once: after a stream's reply, its frames follow.
  bool replied() const { return replied_; }
  // True when the client has closed its end (checked without blocking).
  bool ClientClosed() const;
  // Makes a blocked ReadFrame on fd() return; the fd stays open.
  void Shutdown();

 private:
  const int fd_;
  std::mutex write_mu_;
  std::atomic<bool> replied_{false};
};

class ShimService {
 public:
  // `state_dir` holds one state file per container and exec scratch files.
  ShimService(Runc* runc, std::string state_dir)
      : runc_(runc), state_dir_(std::move(state_dir)) {}

  // The reaper's listener: claims exits of container inits and execs.
  bool OnExit(pid_t pid, const ExitStatus& status);
  // Shutdown was accepted: the shim takes no new containers.
  bool shutting_down();
  // Called once Shutdown's reply is sent: the server stops serving.
  void Stop();
  bool stopped();

  int ContainerCount();
  lite::StatusOr<int> Create(const CreateRequest& request);
  lite::StatusOr<ContainerState> Start(const std::string& id);
  lite::Status Kill(const std::string& id, int signal, bool all);
  // Removes a stopped container (runc delete); returns its last state.
  lite::StatusOr<ContainerState> Delete(const std::string& id);
  lite::StatusOr<ContainerState> State(const std::string& id);
  std::vector<ContainerState> List();
  // Waits until the container's exit is recorded or `client` hangs up.
  lite::StatusOr<ContainerState> Wait(const std::string& id,
                                      const StreamConnection& client);
  lite::Status Resize(const std::string& id, unsigned width, unsigned height);
  lite::Status CloseStdin(const std::string& id);
  lite::Status ReopenLog(const std::string& id);
  lite::Status Update(const std::string& id, const std::string& resources);
  lite::Status Pause(const std::string& id);
  lite::Status Resume(const std::string& id);
  // The container's processes, init and execs (runc ps).
  lite::StatusOr<std::vector<int>> Pids(const std::string& id);

  // Detached processes by exec id (containerd's exec): started with their
  // own OCI process spec and stdio paths, waited for, signalled and
  // deleted like a container's init. A container's are dropped with it.
  lite::StatusOr<int> StartProcess(const ProcessStart& start);
  lite::StatusOr<ContainerState> ProcessState(const std::string& id,
                                              const std::string& exec_id);
  // Until the process has exited or `client` hangs up.
  lite::StatusOr<ContainerState> WaitProcess(const std::string& id,
                                             const std::string& exec_id,
                                             const StreamConnection& client);
  lite::Status KillProcess(const std::string& id, const std::string& exec_id,
                           int signal);
  // FailedPrecondition while it runs; returns its last state.
  lite::StatusOr<ContainerState> DeleteProcess(const std::string& id,
                                               const std::string& exec_id);
  lite::Status CloseProcessStdin(const std::string& id,
                                 const std::string& exec_id);
  // Sets the window of its terminal; nothing when it has none.
  lite::Status ResizeProcess(const std::string& id, const std::string& exec_id,
                             unsigned width, unsigned height);
  // FailedPrecondition while a container still exists.
  lite::Status Shutdown();

  // Stream calls: they answer the request (kReply) and then carry the
  // stream until it ends.
  void Exec(const ExecStart& start, StreamConnection* client);
  void Attach(const std::string& id, StreamConnection* client);
  void Events(StreamConnection* client);

 private:
  // An exec'd process: its exit, set by the reaper.
  struct ExecProcess {
    std::mutex mu;
    std::condition_variable exited_cv;
    bool exited = false;    // guarded by mu
    int exit_code = 0;      // guarded by mu
    int64_t exited_at = 0;  // unix nanoseconds; guarded by mu
    // Called by the reaper with mu held; must return at once.
    std::function<void()> on_exit;
  };
  // A detached process (StartProcess).
  struct DetachedProcess {
    std::string exec_id;
    pid_t pid = 0;
    std::shared_ptr<ExecProcess> exit;
    ProcessIo io;
  };
  lite::StatusOr<std::shared_ptr<DetachedProcess>> FindProcess(
      const std::string& id, const std::string& exec_id);

  lite::StatusOr<std::shared_ptr<Container>> Find(const std::string& id);
  void Publish(const ContainerState& state);
  // Writes the process JSON for an exec into the container: its init's
  // process with other args.
  lite::StatusOr<std::string> WriteExecProcess(const Container& container,
                                               const ExecStart& start,
                                               uint64_t n);
  // Runs `runc exec --detach` and registers the process with the reaper.
  lite::StatusOr<pid_t> StartExec(const ExecStart& start, ProcessIo* io,
                                  std::shared_ptr<ExecProcess>* exec);

  Runc* const runc_;
  const std::string state_dir_;

  std::mutex mu_;
  bool shutdown_ = false;  // guarded by mu_
  bool stopped_ = false;   // guarded by mu_
  std::map<std::string, std::shared_ptr<Container>> containers_;
  std::map<pid_t, std::shared_ptr<Container>> inits_;
  std::map<pid_t, std::shared_ptr<ExecProcess>> execs_;
  uint64_t next_exec_ = 0;
  // Container id -> exec id -> process; guarded by mu_.
  std::map<std::string, std::map<std::string, std::shared_ptr<DetachedProcess>>>
      processes_;

  std::mutex events_mu_;
  std::condition_variable events_cv_;
  // One queue per Events subscriber; guarded by events_mu_.
  std::map<int, std::deque<ExitEvent>> subscribers_;
  int next_subscriber_ = 0;
};

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_SERVICE_H_
