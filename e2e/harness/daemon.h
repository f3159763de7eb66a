// A real cradled for end-to-end tests: its own root, state, socket and
// config under a fresh /tmp dir, its log kept for failure reports.
#ifndef CRADLE_E2E_HARNESS_DAEMON_H_
#define CRADLE_E2E_HARNESS_DAEMON_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cri/api/runtime/v1/cri.h"

namespace cradle::e2e {

struct DaemonOptions {
  // Extra TOML appended to the generated config (registry mirrors, CNI...).
  std::string extra_config;
  // Extra "NAME=value" environment for cradled (e.g. armed failpoints).
  std::vector<std::string> env;
};

class Daemon {
 public:
  // Starts cradled and waits until it answers Version.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(
      DaemonOptions options = {});
  // Stops the daemon (SIGTERM, then SIGKILL), unmounts whatever is left
  // mounted under its dirs and removes them.
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& socket() const { return socket_; }
  std::string root() const { return dir_ + "/root"; }
  std::string state() const { return dir_ + "/state"; }
  pid_t pid() const { return pid_; }

  runtime::v1::RuntimeService::Stub& runtime() { return *runtime_; }
  runtime::v1::ImageService::Stub& images() { return *images_; }

  // Sends `signal` and waits for the process to end.
  absl::Status Stop(int signal = SIGTERM);
  // Starts cradled again on the same dirs (after Stop).
  absl::Status Restart();
  // The extra environment of the next Launch/Restart.
  void set_env(std::vector<std::string> env) { env_ = std::move(env); }
  // Waits (bounded) for a daemon that is meant to die on its own, e.g. at
  // a failpoint; true when it exited killed by `signal`.
  bool WaitDied(int signal, int timeout_ms = 20000);
  // The daemon's stderr so far.
  std::string Log() const;

 private:
  Daemon() = default;
  absl::Status Launch();
  std::string dir_;
  std::string socket_;
  std::string config_path_;
  pid_t pid_ = 0;
  std::vector<std::string> env_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<runtime::v1::ImageService::Stub> images_;
};

// The cradled binary in the test's runfiles.
std::string CradledPath();

// Kills every shim and container of the daemon whose state dir is
// `state` (runc delete --force, SIGKILL), as a power cut would.
void KillShimsAndContainers(const std::string& state);

// Unmounts everything mounted at or below `dir` (deepest first).
void UnmountBelow(const std::string& dir);

struct HostProcess {
  pid_t pid = 0;
  std::string command_line;  // its arguments joined by spaces
};

// Every process on the host, for tests that look for what a runtime left.
std::vector<HostProcess> HostProcesses();
// The pid of a host process whose command line holds `needle`, or 0.
pid_t FindHostProcess(const std::string& needle);

}  // namespace cradle::e2e

#endif  // CRADLE_E2E_HARNESS_DAEMON_H_
