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

// Reads a request head from `fd` (blocking, at most 64 KiB).
absl::StatusOr<HttpRequest> ReadHttpRequest(int fd);
// Parses a head already in memory; exposed for tests.
absl::StatusOr<HttpRequest> ParseHttpRequest(absl::string_view head);

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
