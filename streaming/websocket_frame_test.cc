#include "streaming/websocket_frame.h"

#include <string>

#include "gtest/gtest.h"

namespace cradle::streaming {
namespace {

// A frame header as a client sends it: FIN, `opcode`, masked with a zero
// key, and `length` in the 64-bit form.
std::string ClientHeader64(uint8_t opcode, uint64_t length) {
  std::string h;
  h.push_back(static_cast<char>(0x80 | opcode));
  h.push_back(static_cast<char>(0x80 | 127));
  for (int shift = 56; shift >= 0; shift -= 8) {
    h.push_back(static_cast<char>((length >> shift) & 0xff));
  }
  h.append(4, '\0');  // mask key
  return h;
}

absl::StatusCode CodeOf(std::string wire) {
  return ParseWsFrame(&wire, /*masked=*/true).status().code();
}

TEST(WsFrame, RoundTripsMaskedAndWaitsForWholeFrames) {
  for (size_t size : {0, 125, 126, 65535, 65536, 200000}) {
    std::string payload(size, 'p');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 7);
    std::string wire = EncodeWsFrame(WsOpcode::kBinary, payload, true);
    std::string partial = wire.substr(0, wire.size() - 1);
    absl::StatusOr<std::optional<WsFrame>> f = ParseWsFrame(&partial, true);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_FALSE(f->has_value()) << size;
    f = ParseWsFrame(&wire, true);
    ASSERT_TRUE(f.ok() && f->has_value()) << size;
    EXPECT_EQ((*f)->payload, payload);
    EXPECT_TRUE((*f)->fin);
    EXPECT_TRUE(wire.empty());
  }
}

TEST(WsFrameLimits, AHugeLengthIsRefusedFromTheHeaderAlone) {
  // 1 TiB announced: refused at once, not buffered towards.
  EXPECT_EQ(CodeOf(ClientHeader64(2, uint64_t{1} << 40)),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(CodeOf(ClientHeader64(2, kMaxWsMessage + 1)),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(WsCloseCodeFor(absl::ResourceExhaustedError("")), kWsCloseTooBig);
  // Just at the limit the parser waits for the payload.
  std::string at_limit = ClientHeader64(2, kMaxWsMessage);
  absl::StatusOr<std::optional<WsFrame>> f = ParseWsFrame(&at_limit, true);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_FALSE(f->has_value());
}

TEST(WsFrameLimits, ProtocolViolationsAreErrors) {
  // The 64-bit length's top bit must be clear.
  EXPECT_EQ(CodeOf(ClientHeader64(2, uint64_t{1} << 63)),
            absl::StatusCode::kInvalidArgument);
  // Control frames carry at most 125 bytes and are never fragmented.
  EXPECT_EQ(CodeOf(ClientHeader64(9, 126)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(std::string("\x09\x80\0\0\0\0", 6)),
            absl::StatusCode::kInvalidArgument);
  // Reserved bits and opcodes.
  EXPECT_EQ(CodeOf(std::string("\xc2\x80\0\0\0\0", 6)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(std::string("\x83\x80\0\0\0\0", 6)),
            absl::StatusCode::kInvalidArgument);
  // A client's frames are masked; a server's are not.
  EXPECT_EQ(CodeOf(std::string("\x82\x00", 2)),
            absl::StatusCode::kInvalidArgument);
  std::string masked = EncodeWsFrame(WsOpcode::kBinary, "x", true);
  EXPECT_FALSE(ParseWsFrame(&masked, /*masked=*/false).ok());
  EXPECT_EQ(WsCloseCodeFor(absl::InvalidArgumentError("")),
            kWsCloseProtocolError);
}

}  // namespace
}  // namespace cradle::streaming
