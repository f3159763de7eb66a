#include "streaming/http.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lite/files.h"

namespace cradle::streaming {

std::string HttpRequest::Header(absl::string_view name) const {
  std::string lower = absl::AsciiStrToLower(name);
  for (const auto& [key, value] : headers) {
    if (key == lower) return value;
  }
  return "";
}

std::vector<std::string> HttpRequest::HeaderValues(
    absl::string_view name) const {
  std::vector<std::string> values;
  std::string lower = absl::AsciiStrToLower(name);
  for (const auto& [key, value] : headers) {
    if (key != lower) continue;
    for (absl::string_view v : absl::StrSplit(value, ',')) {
      v = absl::StripAsciiWhitespace(v);
      if (!v.empty()) values.emplace_back(v);
    }
  }
  return values;
}

bool HttpRequest::HeaderHasToken(absl::string_view name,
                                 absl::string_view token) const {
  for (const std::string& v : HeaderValues(name)) {
    if (absl::EqualsIgnoreCase(v, token)) return true;
  }
  return false;
}

absl::StatusOr<HttpRequest> ParseHttpRequest(absl::string_view head) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  if (lines.empty()) return absl::InvalidArgumentError("empty request");
  std::vector<absl::string_view> first = absl::StrSplit(lines[0], ' ');
  if (first.size() != 3 || !absl::StartsWith(first[2], "HTTP/1.")) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an HTTP/1.x request line: ", lines[0]));
  }
  HttpRequest request;
  request.method = std::string(first[0]);
  absl::string_view target = first[1];
  if (size_t q = target.find('?'); q != absl::string_view::npos) {
    request.query = std::string(target.substr(q + 1));
    target = target.substr(0, q);
  }
  request.path = std::string(target);
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad header line: ", lines[i]));
    }
    request.headers.emplace_back(
        absl::AsciiStrToLower(lines[i].substr(0, colon)),
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
  }
  return request;
}

absl::StatusOr<HttpRequest> ReadHttpRequest(int fd, absl::Time deadline) {
  std::string buffer;
  char chunk[4096];
  size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (buffer.size() >= kMaxHttpHead) {
      return absl::ResourceExhaustedError(
          absl::StrCat("request head larger than ", kMaxHttpHead, " bytes"));
    }
    // One deadline for the whole head, not per read: a byte every few
    // seconds must not keep the connection (and its thread) forever.
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          "no whole request head within the time limit");
    }
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1,
                     static_cast<int>(absl::ToInt64Milliseconds(
                         left + absl::Milliseconds(1))));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;  // the deadline check above answers
    if (ready < 0) {
      return absl::UnavailableError(
          absl::StrCat("poll on the connection: ", strerror(errno)));
    }
    size_t room = std::min(sizeof(chunk), kMaxHttpHead - buffer.size());
    ssize_t n = read(fd, chunk, room);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      return absl::UnavailableError("connection closed before a request");
    }
    buffer.append(chunk, n);
  }
  absl::StatusOr<HttpRequest> request =
      ParseHttpRequest(absl::string_view(buffer).substr(0, end));
  if (request.ok()) request->rest = buffer.substr(end + 4);
  return request;
}

std::pair<int, const char*> HttpErrorFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      return {408, "Request Timeout"};
    case absl::StatusCode::kResourceExhausted:
      return {431, "Request Header Fields Too Large"};
    default:
      return {400, "Bad Request"};
  }
}

bool WriteAll(int fd, absl::string_view data) {
  return lite::SendFully(fd, std::string_view(data.data(), data.size()));
}

bool WriteHttpHead(
    int fd, int code, absl::string_view reason,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string head = absl::StrCat("HTTP/1.1 ", code, " ", reason, "\r\n");
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  head += "\r\n";
  return WriteAll(fd, head);
}

void WriteHttpResponse(int fd, int code, absl::string_view reason,
                       absl::string_view body) {
  std::string text = absl::StrCat(body, "\n");
  if (WriteHttpHead(fd, code, reason,
                    {{"Content-Type", "text/plain; charset=utf-8"},
                     {"Content-Length", absl::StrCat(text.size())},
                     {"Connection", "close"}})) {
    WriteAll(fd, text);
  }
}

}  // namespace cradle::streaming
