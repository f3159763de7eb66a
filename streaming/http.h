// Just enough HTTP/1.1 for the streaming server: one request head per
// connection, answered either with a plain response or an upgrade to a
// streaming protocol (SPDY/3.1 or WebSocket).
#ifndef CRADLE_STREAMING_HTTP_H_
#define CRADLE_STREAMING_HTTP_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cradle::streaming {

struct HttpRequest {
  std::string method;
  std::string path;   // without the query
  std::string query;  // after '?', undecoded
  // Names lowercased; repeated names kept in order.
  std::vector<std::pair<std::string, std::string>> headers;
  // Bytes read past the head (the start of the upgraded protocol).
  std::string rest;

  // The first value of `name`, or "".
  std::string Header(absl::string_view name) const;
  // Every value of `name`, comma-separated lists split.
  std::vector<std::string> HeaderValues(absl::string_view name) const;
  // Whether a comma-separated header (Connection, Upgrade) holds `token`.
  bool HeaderHasToken(absl::string_view name, absl::string_view token) const;
};

// The largest request head accepted, CRLFCRLF included.
inline constexpr size_t kMaxHttpHead = 64 * 1024;

// Reads a request head from `fd`, which must all arrive by `deadline`: a
// client trickling bytes cannot hold the connection past it. Errors:
// DeadlineExceeded (late), ResourceExhausted (over kMaxHttpHead),
// Unavailable (the peer hung up), InvalidArgument (not HTTP/1.x).
absl::StatusOr<HttpRequest> ReadHttpRequest(int fd, absl::Time deadline);
// Parses a head already in memory (without its final CRLFCRLF).
absl::StatusOr<HttpRequest> ParseHttpRequest(absl::string_view head);
// The status line an error of ReadHttpRequest is answered with.
std::pair<int, const char*> HttpErrorFor(const absl::Status& status);

// Writes a whole response with a text body and Connection: close.
void WriteHttpResponse(int fd, int code, absl::string_view reason,
                       absl::string_view body);
// Writes a response head (no body), e.g. 101 Switching Protocols.
bool WriteHttpHead(
    int fd, int code, absl::string_view reason,
    const std::vector<std::pair<std::string, std::string>>& headers);

bool WriteAll(int fd, absl::string_view data);

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_HTTP_H_
