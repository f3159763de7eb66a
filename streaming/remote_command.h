// Kubernetes' remotecommand protocol (exec and attach) on an upgraded
// connection: the client opens one stream per stdio channel plus an error
// stream (where the result goes) and, with a TTY, a resize stream.
#ifndef CRADLE_STREAMING_REMOTE_COMMAND_H_
#define CRADLE_STREAMING_REMOTE_COMMAND_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "streaming/runtime.h"
#include "streaming/stream_timeouts.h"

namespace cradle::streaming {

inline constexpr char kStreamProtocolV4[] = "v4.channel.k8s.io";
inline constexpr char kStreamProtocolV3[] = "v3.channel.k8s.io";
inline constexpr char kStreamProtocolV2[] = "v2.channel.k8s.io";

// The remotecommand protocols served over SPDY, best first.
const std::vector<std::string>& SpdyCommandProtocols();

// An exec or an attach, as its token recorded it.
struct CommandRequest {
  bool is_exec = true;
  ExecOptions exec;      // when is_exec
  AttachOptions attach;  // otherwise

  bool tty() const { return is_exec ? exec.tty : attach.tty; }
  bool stdin() const { return is_exec ? exec.stdin : attach.stdin; }
  bool stdout() const { return is_exec ? exec.stdout : attach.stdout; }
  bool stderr() const { return is_exec ? exec.stderr : attach.stderr; }
};

// Runs the exec or attach the request names; an attach that ends well
// counts as exit code 0.
absl::StatusOr<int> RunCommand(const CommandRequest& request,
                               StreamingRuntime* runtime, CommandIo* io);

// A terminal size from one resize message ({"Width":W,"Height":H});
// false for anything else: not an object, a dimension that is not a whole
// number in 1..65535.
bool ParseTerminalSize(absl::string_view json, TerminalSize* size);

// What the error stream carries at the end. v4 sends a Kubernetes Status
// object (the exit code in its causes); older versions plain text, empty on
// success.
std::string CommandResultMessage(const std::string& protocol,
                                 const CommandRequest& request,
                                 const absl::StatusOr<int>& result);

// Runs the command over a SPDY connection on `fd` (after the 101 answer;
// `pending` holds bytes already read). Returns when the connection is over;
// closes `fd`, calling `before_close` (if any) just before.
void ServeCommandOverSpdy(int fd, std::string pending,
                          const std::string& protocol,
                          const CommandRequest& request,
                          StreamingRuntime* runtime,
                          const StreamTimeouts& timeouts,
                          std::function<void()> before_close = nullptr);

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_REMOTE_COMMAND_H_
