// Fuzzes what the shim parses from its socket: frames (ReadFrame), then the
// JSON of requests, stream control frames and replies, as the server and the
// client decode them. Invariants: nothing but nlohmann's own exceptions
// (which the shim catches per call) escapes a decoder, no frame exceeds the
// cap, and a frame read back after WriteFrame is the same frame.
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "nlohmann/json.hpp"
#include "shim/api/protocol.h"

namespace cradle::shim {
namespace {

// A readable fd holding `bytes`, as the shim's socket would deliver them.
int FdWith(const uint8_t* data, size_t size) {
  int fd = memfd_create("fuzz", MFD_CLOEXEC);
  if (fd < 0) abort();
  if (size > 0 && write(fd, data, size) != static_cast<ssize_t>(size)) abort();
  lseek(fd, 0, SEEK_SET);
  return fd;
}

void Check(bool ok) {
  if (!ok) abort();
}

// What the server and the stream handlers do with a frame's payload.
void DecodeLikeTheShim(const Frame& frame) {
  nlohmann::json j = nlohmann::json::parse(frame.payload, nullptr, false);
  try {
    if (j.is_object()) {
      (void)j.value(kMethodKey, nlohmann::json());
      (void)IntegerOr(j, "signal", 0);
      (void)IntegerOr(j, "width", 0u);
      (void)IntegerOr(j, "height", 0u);
      (void)j.value("execId", std::string());
      (void)j.value("all", false);
      (void)j.value("resources", std::string());
    }
  } catch (const nlohmann::json::exception&) {
    // Caught per call by the server: a bad argument, not a crash.
  }
  (void)Decode<CreateRequest>(frame.payload, "create");
  (void)Decode<ExecStart>(frame.payload, "exec");
  (void)Decode<ContainerState>(frame.payload, "state");
  (void)Decode<ExitEvent>(frame.payload, "event");
  (void)Decode<ProcessStart>(frame.payload, "process");
  lite::StatusOr<nlohmann::json> reply = DecodeReply(frame.payload);
  if (!reply.ok()) {
    // Re-encoding a decoded error must not throw, whatever its bytes.
    (void)EncodeReply(reply.status());
  }
}

}  // namespace
}  // namespace cradle::shim

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cradle::shim;
  int fd = FdWith(data, size);
  for (;;) {
    cradle::lite::StatusOr<Frame> frame = ReadFrame(fd);
    if (!frame.ok()) break;
    Check(frame->payload.size() <= kMaxFramePayload);
    DecodeLikeTheShim(*frame);
    // WriteFrame sends on a socket; a small frame fits its buffer whole.
    if (frame->payload.size() > 64 * 1024) continue;
    int pair[2];
    Check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    Check(WriteFrame(pair[0], frame->type, frame->payload).ok());
    cradle::lite::StatusOr<Frame> again = ReadFrame(pair[1]);
    close(pair[0]);
    close(pair[1]);
    Check(again.ok() && again->type == frame->type &&
          again->payload == frame->payload);
  }
  close(fd);
  return 0;
}
