// A client of cradle's streaming server, as crictl and the kubelet use it:
// an HTTP upgrade to SPDY/3.1, then remotecommand or port-forward streams.
// For tests.
#ifndef CRADLE_STREAMING_TESTING_STREAM_CLIENT_H_
#define CRADLE_STREAMING_TESTING_STREAM_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "streaming/runtime.h"
#include "streaming/spdy/session.h"

namespace cradle::streaming {

// An upgraded connection with its frame reader running.
class SpdyConnection {
 public:
  SpdyConnection(int fd, std::string rest, std::string protocol);
  ~SpdyConnection();
  spdy::Session& session() { return *session_; }
  const std::string& protocol() const { return protocol_; }

 private:
  std::unique_ptr<spdy::Session> session_;
  std::string protocol_;
  std::thread reader_;
};

struct HttpAnswer {
  int code = 0;
  std::string body;  // the start of it, for errors
};

// Asks `url` for an upgrade to SPDY/3.1 offering `protocols`. A refusal is
// returned as the HTTP answer in `refused` (when given) and an error.
absl::StatusOr<std::unique_ptr<SpdyConnection>> DialSpdy(
    const std::string& url, const std::vector<std::string>& protocols,
    HttpAnswer* refused = nullptr);

struct CommandClientOptions {
  std::vector<std::string> protocols = {"v4.channel.k8s.io"};
  bool tty = false;
  bool stdout = true;
  bool stderr = true;
  // Sent as stdin, which is then closed; nullopt: no stdin stream.
  std::optional<std::string> stdin;
  // Terminal sizes sent right after the streams open (TTY only).
  std::vector<TerminalSize> resizes;
};

struct CommandClientResult {
  std::string protocol;
  std::string stdout;
  std::string stderr;
  std::string error;  // what the error stream carried
};

// Runs a remote command to its end.
absl::StatusOr<CommandClientResult> RunRemoteCommand(
    const std::string& url, const CommandClientOptions& options);

// The same over a WebSocket (`protocols` offered as subprotocols). With
// v5, the end of stdin is signalled; older versions cannot.
absl::StatusOr<CommandClientResult> RunRemoteCommandOverWebSocket(
    const std::string& url, const CommandClientOptions& options,
    HttpAnswer* refused = nullptr);

// The exit code a v4 error-stream status carries: 0 on Success, the
// ExitCode cause on NonZeroExitCode, nullopt for anything else.
std::optional<int> ExitCodeOf(const std::string& v4_status);

struct ForwardResult {
  std::string data;   // what came back from the pod
  std::string error;  // what the error stream carried
};

// Over one port-forward connection: sends `send` to `port` in the pod,
// finishes sending, and reads until the pod side finishes.
absl::StatusOr<ForwardResult> ForwardOnce(SpdyConnection& connection, int port,
                                          const std::string& send,
                                          int request_id);

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_TESTING_STREAM_CLIENT_H_
