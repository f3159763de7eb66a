// WebSocket (RFC 6455) framing, and remotecommand over it: Kubernetes'
// channel protocols put one stdio channel per message, its first byte the
// channel (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 adds 255,
// "close this channel").
#ifndef CRADLE_STREAMING_WEBSOCKET_H_
#define CRADLE_STREAMING_WEBSOCKET_H_

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "streaming/http.h"
#include "streaming/remote_command.h"
#include "streaming/runtime.h"
#include "streaming/stream_timeouts.h"
#include "streaming/websocket_frame.h"

namespace cradle::streaming {

inline constexpr char kWebSocketProtocolV5[] = "v5.channel.k8s.io";
inline constexpr char kWebSocketProtocolV4[] = "v4.channel.k8s.io";
inline constexpr char kWebSocketProtocolV1[] = "channel.k8s.io";

// The remotecommand protocols served over WebSocket, best first.
const std::vector<std::string>& WebSocketCommandProtocols();

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key.
std::string WebSocketAccept(absl::string_view key);

// One end of a WebSocket connection. A server sends unmasked frames and
// expects masked ones; a client the other way round.
class WebSocket {
 public:
  // A connection with no byte either way for `idle` is closed.
  WebSocket(int fd, bool is_server, std::string pending = "",
            absl::Duration idle = absl::InfiniteDuration());
  ~WebSocket();  // closes fd

  // The next data message (pings answered, fragments joined); false once
  // the peer closed, broke the protocol (answered with a close frame
  // naming why), went idle, or the connection broke.
  bool Read(std::string* message);
  absl::Status Write(WsOpcode opcode, absl::string_view payload);
  // Sends a close frame (once).
  void Close(uint16_t code = kWsCloseNormal);
  // Cuts the connection.
  void Abort();
  int fd() const { return fd_; }

 private:
  // The next frame; nullopt when the connection ended or failed.
  std::optional<WsFrame> ReadFrame();
  // Reads more bytes; false at the end, on an error or when idle.
  bool Fill();

  const int fd_;
  const bool is_server_;
  const absl::Duration idle_;
  std::string buffer_;  // reading thread only
  // When a byte last passed either way (absl::ToUnixNanos).
  std::atomic<int64_t> last_active_;
  absl::Mutex write_mu_;
  bool close_sent_ ABSL_GUARDED_BY(write_mu_) = false;
};

// Runs the command over an upgraded WebSocket on `fd`; returns when the
// connection is over and closes `fd`, calling `before_close` (if any) just
// before.
void ServeCommandOverWebSocket(int fd, std::string pending,
                               const std::string& protocol,
                               const CommandRequest& request,
                               StreamingRuntime* runtime,
                               const StreamTimeouts& timeouts,
                               std::function<void()> before_close = nullptr);

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_WEBSOCKET_H_
