// RFC 6455 frames, apart from any socket: what WebSocket reads and writes,
// and what the fuzz target feeds.
#ifndef CRADLE_STREAMING_WEBSOCKET_FRAME_H_
#define CRADLE_STREAMING_WEBSOCKET_FRAME_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle::streaming {

enum class WsOpcode : uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10,
};

// The largest frame payload, and the largest message its fragments may add
// up to. Kubernetes clients send stdin in chunks far smaller.
inline constexpr uint64_t kMaxWsMessage = 4 << 20;

// Close codes (RFC 6455, 7.4.1).
inline constexpr uint16_t kWsCloseNormal = 1000;
inline constexpr uint16_t kWsCloseProtocolError = 1002;
inline constexpr uint16_t kWsCloseTooBig = 1009;

struct WsFrame {
  bool fin = true;
  WsOpcode opcode = WsOpcode::kBinary;
  std::string payload;  // unmasked
};

// Takes one whole frame off the front of `buffer`; nullopt until it holds
// one. `masked`: whether frames must be masked (a client's are). A length
// over kMaxWsMessage is refused from the frame's header, before its
// payload arrives. Errors leave the connection unusable: InvalidArgument
// for a protocol violation, ResourceExhausted for a frame too large.
absl::StatusOr<std::optional<WsFrame>> ParseWsFrame(std::string* buffer,
                                                    bool masked);

// One final frame; masked with a random key when `mask`.
std::string EncodeWsFrame(WsOpcode opcode, absl::string_view payload,
                          bool mask);

// The close code that answers a ParseWsFrame error.
uint16_t WsCloseCodeFor(const absl::Status& status);

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_WEBSOCKET_FRAME_H_
