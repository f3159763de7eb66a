// The shim's gRPC API (shim/api/shim.proto) over runc, for one pod.
#ifndef CRADLE_SHIM_SERVICE_H_
#define CRADLE_SHIM_SERVICE_H_

#include <sys/types.h>

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "process/process.h"
#include "runc_driver/runc.h"
#include "shim/api/shim.grpc.pb.h"
#include "shim/container.h"

namespace cradle::shim {

class ShimService final : public v1::Shim::Service {
 public:
  // `state_dir` holds one state file per container and exec scratch files.
  ShimService(Runc* runc, std::string state_dir)
      : runc_(runc), state_dir_(std::move(state_dir)) {}

  // The reaper's listener: claims exits of container inits and execs.
  bool OnExit(pid_t pid, const ExitStatus& status);
  // Notified once Shutdown was accepted.
  absl::Notification& shutdown() { return shutdown_; }

  grpc::Status Info(grpc::ServerContext*, const v1::Empty*,
                    v1::ShimInfo*) override;
  grpc::Status Create(grpc::ServerContext*, const v1::CreateRequest*,
                      v1::CreateResponse*) override;
  grpc::Status Start(grpc::ServerContext*, const v1::ContainerRef*,
                     v1::ContainerState*) override;
  grpc::Status Kill(grpc::ServerContext*, const v1::KillRequest*,
                    v1::Empty*) override;
  grpc::Status Delete(grpc::ServerContext*, const v1::ContainerRef*,
                      v1::ContainerState*) override;
  grpc::Status State(grpc::ServerContext*, const v1::ContainerRef*,
                     v1::ContainerState*) override;
  grpc::Status List(grpc::ServerContext*, const v1::Empty*,
                    v1::ListResponse*) override;
  grpc::Status Wait(grpc::ServerContext*, const v1::ContainerRef*,
                    v1::ContainerState*) override;
  grpc::Status Exec(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::StreamOutput, v1::StreamInput>*) override;
  grpc::Status Attach(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::StreamOutput, v1::StreamInput>*) override;
  grpc::Status Resize(grpc::ServerContext*, const v1::ResizeRequest*,
                      v1::Empty*) override;
  grpc::Status CloseStdin(grpc::ServerContext*, const v1::ContainerRef*,
                          v1::Empty*) override;
  grpc::Status ReopenLog(grpc::ServerContext*, const v1::ContainerRef*,
                         v1::Empty*) override;
  grpc::Status Update(grpc::ServerContext*, const v1::UpdateRequest*,
                      v1::Empty*) override;
  grpc::Status Pause(grpc::ServerContext*, const v1::ContainerRef*,
                     v1::Empty*) override;
  grpc::Status Resume(grpc::ServerContext*, const v1::ContainerRef*,
                      v1::Empty*) override;
  grpc::Status Events(grpc::ServerContext*, const v1::Empty*,
                      grpc::ServerWriter<v1::ExitEvent>*) override;
  grpc::Status Shutdown(grpc::ServerContext*, const v1::Empty*,
                        v1::Empty*) override;

 private:
  // An exec'd process: its exit, set by the reaper.
  struct ExecProcess {
    absl::Mutex mu;
    bool exited ABSL_GUARDED_BY(mu) = false;
    int exit_code ABSL_GUARDED_BY(mu) = 0;
  };

  absl::StatusOr<std::shared_ptr<Container>> Find(const std::string& id);
  void Publish(const v1::ContainerState& state);
  // Writes the process JSON for an exec into the container: its init's
  // process with other args.
  absl::StatusOr<std::string> WriteExecProcess(const Container& container,
                                               const v1::ExecStart& start,
                                               uint64_t n);

  Runc* const runc_;
  const std::string state_dir_;
  absl::Notification shutdown_;

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Container>> containers_
      ABSL_GUARDED_BY(mu_);
  std::map<pid_t, std::shared_ptr<Container>> inits_ ABSL_GUARDED_BY(mu_);
  std::map<pid_t, std::shared_ptr<ExecProcess>> execs_ ABSL_GUARDED_BY(mu_);
  uint64_t next_exec_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex events_mu_;
  // One queue per Events subscriber.
  std::map<int, std::deque<v1::ExitEvent>> subscribers_
      ABSL_GUARDED_BY(events_mu_);
  int next_subscriber_ ABSL_GUARDED_BY(events_mu_) = 0;
};

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_SERVICE_H_
