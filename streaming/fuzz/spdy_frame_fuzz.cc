// Feeds bytes to a SPDY/3.1 frame parser as a peer would send them, and
// checks that every frame it accepts is within the limits and survives an
// encode and parse round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "streaming/spdy/framer.h"

namespace {

using cradle::spdy::Frame;
using cradle::spdy::Framer;
using cradle::spdy::FrameType;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Known(FrameType type) {
  switch (type) {
    case FrameType::kData:
    case FrameType::kSynStream:
    case FrameType::kSynReply:
    case FrameType::kRstStream:
    case FrameType::kSettings:
    case FrameType::kPing:
    case FrameType::kGoAway:
    case FrameType::kHeaders:
    case FrameType::kWindowUpdate:
      return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string buffer(reinterpret_cast<const char*>(data), size);
  Framer receiver, sender, echo;
  for (;;) {
    size_t before = buffer.size();
    absl::StatusOr<std::optional<Frame>> parsed = receiver.Parse(&buffer);
    if (!parsed.ok() || !parsed->has_value()) break;
    Check(buffer.size() < before);
    const Frame& f = **parsed;
    Check(f.data.size() <= Framer::kMaxPayload);
    Check(f.headers.size() <= Framer::kMaxHeaders);
    size_t total = 0;
    for (const auto& [name, value] : f.headers)
      total += name.size() + value.size();
    Check(total <= Framer::kMaxHeaderBlock);
    // Split values repeat their name and length prefixes; a block that
    // would inflate past the cap when said again is not a round trip.
    if (!Known(f.type) ||
        4 + 8 * f.headers.size() + total > Framer::kMaxHeaderBlock) {
      continue;
    }
    // What we accepted we can say again, and read back the same.
    std::string wire = sender.Encode(f);
    absl::StatusOr<std::optional<Frame>> again = echo.Parse(&wire);
    Check(again.ok() && again->has_value() && wire.empty());
    const Frame& g = **again;
    Check(g.type == f.type && g.flags == f.flags &&
          g.stream_id == f.stream_id && g.headers == f.headers &&
          g.data == f.data);
  }
  return 0;
}
