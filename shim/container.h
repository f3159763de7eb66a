// One container the shim runs: its init process's stdio (pumped into the
// CRI log and to attached clients), its lifecycle state, and its exit,
// written to the shim's state dir before anyone is told about it.
#ifndef CRADLE_SHIM_CONTAINER_H_
#define CRADLE_SHIM_CONTAINER_H_

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "lite/status.h"
#include "shim/api/protocol.h"
#include "shim/log_writer.h"
#include "shim/stdio.h"

namespace cradle::shim {

using OutputSink = std::function<void(OutputStream, std::string_view)>;

class Container {
 public:
  Container(CreateRequest request, std::string state_file);
  ~Container();

  const std::string& id() const { return request_.id; }
  // Called once the exit is recorded; set before Created().
  void set_on_recorded(std::function<void(const ContainerState&)> f) {
    on_recorded_ = std::move(f);
  }
  // Runs once the init has exited, before the exit is recorded: the shim
  // kills what is left of a container without its own PID namespace.
  void set_on_init_exit(std::function<void()> f) {
    on_init_exit_ = std::move(f);
  }
  const CreateRequest& request() const { return request_; }

  // After `runc create`: takes the process's io and starts pumping output
  // and the thread that records the exit. ResourceExhausted when no thread
  // can be had: the caller deletes the container.
  lite::Status Created(pid_t pid, std::unique_ptr<ProcessIo> io,
                       std::unique_ptr<CriLogWriter> log);
  void Started();
  // runc paused (true) or resumed it: a RUNNING container shows PAUSED and
  // back. No effect in any other state.
  void SetPaused(bool paused);
  // The init process exited (called from the reaper: returns at once).
  void Exited(int exit_code);
  ContainerState State();
  bool exited();
  // Blocks until the exit is recorded (output drained, state persisted).
  ContainerState Wait();
  // As Wait, for at most `timeout`; false when not recorded by then.
  bool WaitFor(std::chrono::milliseconds timeout, ContainerState* state);

  int Subscribe(OutputSink sink);
  void Unsubscribe(int token);
  // Writes to the container's stdin (or terminal); false when closed.
  bool WriteStdin(std::string_view data);
  void CloseStdin();
  void Resize(unsigned width, unsigned height);
  lite::Status ReopenLog();

 private:
  // Runs a thread's body; an exception ends that thread, not the shim:
  // `on_failure` (which must not throw) then releases whoever waits on
  // the thread. False when `run` threw.
  template <typename F, typename OnFailure>
  bool Guarded(const char* what, F run, OnFailure on_failure);
  void PumpFailed();      // marks the pump done
  void RecorderFailed();  // records the exit as far as it is known
  // Reads and drops the output until EOF or destruction: the pump's
  // stand-in once it has failed.
  void DiscardOutput();
  void Pump();
  void AwaitExit();  // the finisher thread: records the exit when it comes
  void Finish(int exit_code);
  void Persist();  // with mu_ held
  bool OomKilled();

  const CreateRequest request_;
  const std::string state_file_;
  std::function<void(const ContainerState&)> on_recorded_;
  std::function<void()> on_init_exit_;

  std::mutex mu_;
  std::condition_variable changed_;  // pump_done_ or recorded_ became true
  ContainerState state_;             // guarded by mu_
  bool recorded_ = false;            // exit persisted; guarded by mu_
  bool pump_done_ = false;           // guarded by mu_
  bool exit_pending_ = false;        // Exited() was called; guarded by mu_
  bool abandoned_ = false;           // being destroyed; guarded by mu_
  std::unique_ptr<ProcessIo> io_;
  std::unique_ptr<CriLogWriter> log_;
  std::thread pump_;
  std::thread finisher_;

  std::mutex sinks_mu_;
  std::map<int, OutputSink> sinks_;  // guarded by sinks_mu_
  int next_token_ = 0;               // guarded by sinks_mu_
  std::mutex stdin_mu_;
};

// The container's cgroup dir for a controller, from its config.json.
std::string CgroupDirOf(const std::string& bundle,
                        const std::string& controller);

// Unix nanoseconds now.
int64_t NowNanos();

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_CONTAINER_H_
