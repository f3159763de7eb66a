// What the streaming server needs from the container runtime, and what a
// running command sees of its client. The server speaks the wire protocols;
// the runtime (cri/runtime) runs the commands and dials into pods.
#ifndef CRADLE_STREAMING_RUNTIME_H_
#define CRADLE_STREAMING_RUNTIME_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle::streaming {

struct TerminalSize {
  uint16_t width = 0;
  uint16_t height = 0;
};

// A remote command's client, whatever protocol carries it. Input calls
// block; output calls may come from another thread than input ones.
class CommandIo {
 public:
  virtual ~CommandIo() = default;
  // The next bytes of stdin; false at its end.
  virtual bool ReadStdin(std::string* data) = 0;
  // The next terminal size; false when no more will come.
  virtual bool NextResize(TerminalSize* size) = 0;
  // Fail once the client has gone.
  virtual absl::Status WriteStdout(absl::string_view data) = 0;
  virtual absl::Status WriteStderr(absl::string_view data) = 0;
  // The command is over: blocked and later input calls return false.
  virtual void StopInput() = 0;
  // `callback` runs once if the client goes away before the command ends
  // (at once if it already has): the runtime cancels the command there.
  virtual void OnClientGone(std::function<void()> callback) = 0;
};

struct ExecOptions {
  std::string container_id;
  std::vector<std::string> cmd;
  bool tty = false;
  bool stdin = false;
  bool stdout = false;
  bool stderr = false;
};

struct AttachOptions {
  std::string container_id;
  bool tty = false;
  bool stdin = false;
  bool stdout = false;
  bool stderr = false;
};

class StreamingRuntime {
 public:
  virtual ~StreamingRuntime() = default;
  // Runs the command to its end; its exit code.
  virtual absl::StatusOr<int> Exec(const ExecOptions& options,
                                   CommandIo* io) = 0;
  // Connects the client to the container's stdio until the container
  // exits or the client leaves.
  virtual absl::Status Attach(const AttachOptions& options, CommandIo* io) = 0;
  // A socket connected to `port` on the pod's loopback, inside the pod's
  // network namespace. The caller closes it.
  virtual absl::StatusOr<int> DialPod(const std::string& pod_id,
                                      int32_t port) = 0;
};

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_RUNTIME_H_
