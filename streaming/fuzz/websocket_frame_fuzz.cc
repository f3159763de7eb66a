// Feeds bytes to the WebSocket frame parser (the first byte picks whether
// frames must be masked, as from a client) and checks each accepted frame
// against the limits and an encode and parse round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "streaming/websocket_frame.h"

namespace {

using cradle::streaming::ParseWsFrame;
using cradle::streaming::WsFrame;

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool masked = (data[0] & 1) != 0;
  std::string buffer(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (;;) {
    size_t before = buffer.size();
    absl::StatusOr<std::optional<WsFrame>> frame =
        ParseWsFrame(&buffer, masked);
    if (!frame.ok() || !frame->has_value()) break;
    Check(buffer.size() < before);
    const WsFrame& f = **frame;
    Check(f.payload.size() <= cradle::streaming::kMaxWsMessage);
    if (!f.fin) continue;  // the encoder writes final frames only
    std::string wire =
        cradle::streaming::EncodeWsFrame(f.opcode, f.payload, masked);
    absl::StatusOr<std::optional<WsFrame>> again = ParseWsFrame(&wire, masked);
    Check(again.ok() && again->has_value() && wire.empty());
    Check((*again)->opcode == f.opcode && (*again)->payload == f.payload);
  }
  return 0;
}
