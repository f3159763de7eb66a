#include "streaming/websocket_frame.h"

#include <sys/random.h>

#include "absl/strings/str_cat.h"

namespace cradle::streaming {
namespace {

bool IsControl(uint8_t opcode) { return (opcode & 0x08) != 0; }

bool IsKnown(uint8_t opcode) {
  switch (static_cast<WsOpcode>(opcode)) {
    case WsOpcode::kContinuation:
    case WsOpcode::kText:
    case WsOpcode::kBinary:
    case WsOpcode::kClose:
    case WsOpcode::kPing:
    case WsOpcode::kPong:
      return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::optional<WsFrame>> ParseWsFrame(std::string* buffer,
                                                    bool masked) {
  const std::string& b = *buffer;
  auto byte = [&b](size_t i) { return static_cast<uint8_t>(b[i]); };
  if (b.size() < 2) return std::nullopt;
  uint8_t opcode = byte(0) & 0x0f;
  if ((byte(0) & 0x70) != 0) {
    return absl::InvalidArgumentError(
        "websocket frame has reserved bits set (no extension was agreed)");
  }
  if (!IsKnown(opcode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("websocket opcode ", opcode, " is reserved"));
  }
  if (((byte(1) & 0x80) != 0) != masked) {
    return absl::InvalidArgumentError(
        masked ? "websocket frame from the client is not masked"
               : "websocket frame from the server is masked");
  }
  uint64_t length = byte(1) & 0x7f;
  size_t at = 2;
  if (length == 126) {
    if (b.size() < 4) return std::nullopt;
    length = (uint64_t{byte(2)} << 8) | byte(3);
    at = 4;
  } else if (length == 127) {
    if (b.size() < 10) return std::nullopt;
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | byte(2 + i);
    at = 10;
    if ((length >> 63) != 0) {
      return absl::InvalidArgumentError(
          "websocket frame length has its top bit set");
    }
  }
  const bool fin = (byte(0) & 0x80) != 0;
  if (IsControl(opcode) && (length > 125 || !fin)) {
    return absl::InvalidArgumentError(
        "websocket control frame is fragmented or longer than 125 bytes");
  }
  if (length > kMaxWsMessage) {
    return absl::ResourceExhaustedError(
        absl::StrCat("websocket frame of ", length, " bytes is over the ",
                     kMaxWsMessage, "-byte limit"));
  }
  if (masked) at += 4;
  if (b.size() < at + length) return std::nullopt;
  WsFrame frame;
  frame.fin = fin;
  frame.opcode = static_cast<WsOpcode>(opcode);
  frame.payload.assign(b, at, length);
  if (masked) {
    const size_t key = at - 4;
    for (size_t i = 0; i < frame.payload.size(); ++i) {
      frame.payload[i] = static_cast<char>(frame.payload[i] ^ b[key + i % 4]);
    }
  }
  buffer->erase(0, at + length);
  return frame;
}

std::string EncodeWsFrame(WsOpcode opcode, absl::string_view payload,
                          bool mask) {
  std::string frame;
  frame.push_back(static_cast<char>(0x80 | static_cast<uint8_t>(opcode)));
  uint8_t mask_bit = mask ? 0x80 : 0;
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(mask_bit | payload.size()));
  } else if (payload.size() <= 0xffff) {
    frame.push_back(static_cast<char>(mask_bit | 126));
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    frame.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      frame.push_back(
          static_cast<char>((uint64_t{payload.size()} >> shift) & 0xff));
    }
  }
  if (!mask) {
    frame.append(payload.data(), payload.size());
    return frame;
  }
  char key[4];
  (void)!getrandom(key, sizeof(key), 0);
  frame.append(key, 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    frame.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  }
  return frame;
}

uint16_t WsCloseCodeFor(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted
             ? kWsCloseTooBig
             : kWsCloseProtocolError;
}

}  // namespace cradle::streaming
