// One container the shim runs: its init process's stdio (pumped into the
// CRI log and to attached clients), its lifecycle state, and its exit,
// written to the shim's state dir before anyone is told about it.
#ifndef CRADLE_SHIM_CONTAINER_H_
#define CRADLE_SHIM_CONTAINER_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "shim/api/shim.pb.h"
#include "shim/log_writer.h"
#include "shim/stdio.h"

namespace cradle::shim {

using OutputSink = std::function<void(OutputStream, absl::string_view)>;

class Container {
 public:
  Container(v1::CreateRequest request, std::string state_file);
  ~Container();

  const std::string& id() const { return request_.id(); }
  // Called once the exit is recorded; set before Created().
  void set_on_recorded(std::function<void(const v1::ContainerState&)> f) {
    on_recorded_ = std::move(f);
  }
  const v1::CreateRequest& request() const { return request_; }

  // After `runc create`: takes the process's io and starts pumping output.
  void Created(pid_t pid, std::unique_ptr<ProcessIo> io,
               std::unique_ptr<CriLogWriter> log);
  void Started();
  // The init process exited (called from the reaper: returns at once).
  void Exited(int exit_code);
  v1::ContainerState State();
  pid_t pid();
  bool exited();
  // Blocks until the exit is recorded (output drained, state persisted).
  v1::ContainerState Wait();

  int Subscribe(OutputSink sink);
  void Unsubscribe(int token);
  // Writes to the container's stdin (or terminal); false when closed.
  bool WriteStdin(absl::string_view data);
  void CloseStdin();
  void Resize(unsigned width, unsigned height);
  absl::Status ReopenLog();

 private:
  void Pump();
  void Finish(int exit_code);
  void Persist() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool OomKilled();

  const v1::CreateRequest request_;
  const std::string state_file_;
  std::function<void(const v1::ContainerState&)> on_recorded_;

  absl::Mutex mu_;
  v1::ContainerState state_ ABSL_GUARDED_BY(mu_);
  bool recorded_ ABSL_GUARDED_BY(mu_) = false;  // exit persisted
  bool pump_done_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<ProcessIo> io_;
  std::unique_ptr<CriLogWriter> log_;
  std::thread pump_;
  std::thread finisher_;

  absl::Mutex sinks_mu_;
  std::map<int, OutputSink> sinks_ ABSL_GUARDED_BY(sinks_mu_);
  int next_token_ ABSL_GUARDED_BY(sinks_mu_) = 0;
  absl::Mutex stdin_mu_;
};

// The container's cgroup dir for a controller, from its config.json.
std::string CgroupDirOf(const std::string& bundle,
                        const std::string& controller);

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_CONTAINER_H_
