// SPDY/3.1 frames: the framing the Kubernetes streaming protocols
// (remotecommand, portforward) run over after an HTTP upgrade.
//
// A Framer keeps one connection's header-compression state: SPDY
// compresses every header block of a direction with one zlib stream,
// primed with the SPDY dictionary, so frames must be encoded and decoded in
// the order they travel.
#ifndef CRADLE_STREAMING_SPDY_FRAMER_H_
#define CRADLE_STREAMING_SPDY_FRAMER_H_

#include <zlib.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle::spdy {

// Names are lowercase on the wire. A name may repeat.
using Headers = std::vector<std::pair<std::string, std::string>>;

// The value of the first header named `name` (case-insensitive), or "".
std::string HeaderValue(const Headers& headers, absl::string_view name);

enum class FrameType : uint16_t {
  kData = 0,  // not a control frame type; used for data frames here
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

constexpr uint8_t kFlagFin = 0x01;
constexpr uint8_t kFlagUnidirectional = 0x02;

// RST_STREAM status codes used here.
constexpr uint32_t kRstProtocolError = 1;
constexpr uint32_t kRstRefusedStream = 3;
constexpr uint32_t kRstCancel = 5;

struct Frame {
  FrameType type = FrameType::kData;
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // data, SYN_*, RST, HEADERS, WINDOW_UPDATE
  uint32_t associated_stream_id = 0;  // SYN_STREAM
  uint8_t priority = 0;               // SYN_STREAM
  Headers headers;                    // SYN_STREAM, SYN_REPLY, HEADERS
  std::string data;                   // data frames
  // RST_STREAM / GOAWAY status, PING id, WINDOW_UPDATE delta,
  // GOAWAY last-good stream id is in stream_id.
  uint32_t value = 0;

  bool fin() const { return (flags & kFlagFin) != 0; }
};

class Framer {
 public:
  Framer();
  ~Framer();
  Framer(const Framer&) = delete;
  Framer& operator=(const Framer&) = delete;

  // Takes one whole frame off the front of `buffer`; nullopt when the
  // buffer does not hold a whole frame yet. Unknown control frame types are
  // returned with their type and skipped. An error means the connection is
  // unusable: InvalidArgument for a protocol violation (bad version,
  // corrupt header block), ResourceExhausted for a frame or header block
  // over the limits below.
  absl::StatusOr<std::optional<Frame>> Parse(std::string* buffer);

  // Encodes a frame. Must be called in the order frames are sent.
  std::string Encode(const Frame& frame);

  // The largest frame payload accepted (SPDY's 24-bit length is larger;
  // nothing here needs more).
  static constexpr uint32_t kMaxPayload = 1 << 20;
  // The most a header block may inflate to, and the most its headers may
  // add up to once NUL-joined values are split (each piece repeats the
  // name). Kubernetes' stream headers take a few hundred bytes.
  static constexpr size_t kMaxHeaderBlock = 64 * 1024;
  // The most headers one block may carry.
  static constexpr size_t kMaxHeaders = 1024;

 private:
  absl::StatusOr<Headers> DecodeHeaderBlock(absl::string_view block);
  std::string EncodeHeaderBlock(const Headers& headers);

  z_stream deflate_{};
  z_stream inflate_{};
  bool inflate_ready_ = false;
};

}  // namespace cradle::spdy

#endif  // CRADLE_STREAMING_SPDY_FRAMER_H_
