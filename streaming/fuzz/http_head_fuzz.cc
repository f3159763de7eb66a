// Feeds bytes to the streaming server's request-head reader as a client
// would send them (over a socket pair) and checks what it accepts.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "streaming/http.h"

namespace {

using cradle::streaming::HttpRequest;

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckRequest(const HttpRequest& r) {
  Check(r.path.find('?') == std::string::npos);
  for (const auto& [name, value] : r.headers) {
    Check(!name.empty() && name == absl::AsciiStrToLower(name));
  }
  for (const auto& [name, value] : r.headers) {
    (void)r.Header(name);
    (void)r.HeaderHasToken(name, "upgrade");
    for (const std::string& v : r.HeaderValues(name)) Check(!v.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<HttpRequest> parsed =
      cradle::streaming::ParseHttpRequest(input);
  if (parsed.ok()) CheckRequest(*parsed);

  // The same bytes through the reader, which finds where the head ends.
  if (size > 256 * 1024) return 0;  // more than a socket pair holds
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  int buffer = 512 * 1024;
  setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
  size_t sent = 0;
  while (sent < size) {
    ssize_t n = send(fds[0], input.data() + sent, size - sent, MSG_DONTWAIT);
    if (n <= 0) break;
    sent += n;
  }
  shutdown(fds[0], SHUT_WR);
  absl::StatusOr<HttpRequest> read = cradle::streaming::ReadHttpRequest(
      fds[1], absl::Now() + absl::Seconds(5));
  if (read.ok()) {
    CheckRequest(*read);
    // The bytes past the head are kept, in order, for the upgraded protocol.
    Check(absl::EndsWith(input.substr(0, sent), read->rest));
    Check(absl::StrContains(input.substr(0, sent - read->rest.size()),
                            "\r\n\r\n"));
  }
  close(fds[0]);
  close(fds[1]);
  return 0;
}
