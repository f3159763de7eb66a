#include "streaming/testing/stream_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "streaming/http.h"
#include "streaming/websocket.h"

namespace cradle::streaming {
namespace {

constexpr absl::Duration kReplyTimeout = absl::Seconds(10);

// Reads a stream to its end on a thread of its own.
class Drain {
 public:
  explicit Drain(std::shared_ptr<spdy::Stream> stream)
      : thread_([this, stream] {
          std::string chunk;
          while (stream != nullptr && stream->Read(&chunk)) text_ += chunk;
        }) {}
  std::string Take() {
    thread_.join();
    return text_;
  }

 private:
  std::string text_;
  std::thread thread_;
};

}  // namespace

SpdyConnection::SpdyConnection(int fd, std::string rest, std::string protocol)
    : session_(std::make_unique<spdy::Session>(fd, /*is_server=*/false,
                                               std::move(rest))),
      protocol_(std::move(protocol)),
      reader_([this] { session_->Serve(nullptr); }) {}

SpdyConnection::~SpdyConnection() {
  session_->Abort();
  reader_.join();
}

namespace {

struct Upgraded {
  int fd = -1;
  std::string rest;  // bytes after the answer's head
  std::vector<std::string> header_lines;
};

// Sends an upgrade request to `url` and reads the answer's head. Anything
// but 101 is an error (its code and body in `refused`).
absl::StatusOr<Upgraded> RequestUpgrade(const std::string& url,
                                        const std::string& method,
                                        const std::string& headers,
                                        HttpAnswer* refused) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("not an http URL: ", url));
  }
  size_t slash = rest.find('/');
  std::string host_port(rest.substr(0, slash));
  std::string path(slash == absl::string_view::npos ? "/" : rest.substr(slash));
  std::vector<std::string> hp = absl::StrSplit(host_port, ':');
  int port = 0;
  if (hp.size() != 2 || !absl::SimpleAtoi(hp[1], &port)) {
    return absl::InvalidArgumentError(absl::StrCat("no port in ", url));
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  inet_pton(AF_INET, hp[0].c_str(), &address.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    std::string why = strerror(errno);
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect ", url, ": ", why));
  }
  WriteAll(fd, absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", host_port,
                            "\r\nConnection: Upgrade\r\n", headers,
                            "Content-Length: 0\r\n\r\n"));
  std::string buffer;
  char chunk[4096];
  size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) {
      close(fd);
      return absl::UnavailableError("connection closed before an answer");
    }
    buffer.append(chunk, n);
  }
  Upgraded up;
  up.header_lines = absl::StrSplit(buffer.substr(0, end), "\r\n");
  std::vector<std::string> status = absl::StrSplit(up.header_lines[0], ' ');
  int code = 0;
  if (status.size() < 2 || !absl::SimpleAtoi(status[1], &code)) {
    close(fd);
    return absl::InternalError(
        absl::StrCat("bad status line: ", up.header_lines[0]));
  }
  if (code != 101) {
    std::string body = buffer.substr(end + 4);
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) body.append(chunk, n);
    close(fd);
    if (refused != nullptr) *refused = {code, body};
    return absl::FailedPreconditionError(
        absl::StrCat("upgrade refused: ", code, " ", body));
  }
  up.fd = fd;
  up.rest = buffer.substr(end + 4);
  return up;
}

std::string HeaderOf(const Upgraded& up, absl::string_view name) {
  for (const std::string& line : up.header_lines) {
    size_t colon = line.find(':');
    if (colon != std::string::npos &&
        absl::EqualsIgnoreCase(line.substr(0, colon), name)) {
      return std::string(absl::StripAsciiWhitespace(
          absl::string_view(line).substr(colon + 1)));
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<SpdyConnection>> DialSpdy(
    const std::string& url, const std::vector<std::string>& protocols,
    HttpAnswer* refused) {
  std::string headers = "Upgrade: SPDY/3.1\r\n";
  for (const std::string& p : protocols) {
    absl::StrAppend(&headers, "X-Stream-Protocol-Version: ", p, "\r\n");
  }
  absl::StatusOr<Upgraded> up = RequestUpgrade(url, "POST", headers, refused);
  if (!up.ok()) return up.status();
  return std::make_unique<SpdyConnection>(
      up->fd, up->rest, HeaderOf(*up, "X-Stream-Protocol-Version"));
}

absl::StatusOr<CommandClientResult> RunRemoteCommandOverWebSocket(
    const std::string& url, const CommandClientOptions& options,
    HttpAnswer* refused) {
  char nonce[16];
  (void)!getrandom(nonce, sizeof(nonce), 0);
  std::string key = absl::Base64Escape(absl::string_view(nonce, 16));
  std::string headers = absl::StrCat(
      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: ",
      key,
      "\r\nSec-WebSocket-Protocol: ", absl::StrJoin(options.protocols, ", "),
      "\r\n");
  absl::StatusOr<Upgraded> up = RequestUpgrade(url, "GET", headers, refused);
  if (!up.ok()) return up.status();
  WebSocket ws(up->fd, /*is_server=*/false, up->rest);
  if (HeaderOf(*up, "Sec-WebSocket-Accept") != WebSocketAccept(key)) {
    return absl::InternalError("wrong Sec-WebSocket-Accept");
  }
  CommandClientResult result;
  result.protocol = HeaderOf(*up, "Sec-WebSocket-Protocol");
  auto send = [&](uint8_t channel, const std::string& data) {
    (void)ws.Write(WsOpcode::kBinary,
                   std::string(1, static_cast<char>(channel)) + data);
  };
  for (const TerminalSize& size : options.resizes) {
    nlohmann::json j = {{"Width", size.width}, {"Height", size.height}};
    send(4, j.dump());
  }
  if (options.stdin.has_value()) {
    if (!options.stdin->empty()) send(0, *options.stdin);
    if (result.protocol == "v5.channel.k8s.io") send(255, std::string(1, 0));
  }
  std::string message;
  while (ws.Read(&message)) {
    if (message.empty()) continue;
    std::string data = message.substr(1);
    switch (message[0]) {
      case 1:
        result.stdout += data;
        break;
      case 2:
        result.stderr += data;
        break;
      case 3:
        result.error += data;
        break;
    }
  }
  return result;
}

absl::StatusOr<CommandClientResult> RunRemoteCommand(
    const std::string& url, const CommandClientOptions& options) {
  absl::StatusOr<std::unique_ptr<SpdyConnection>> connection =
      DialSpdy(url, options.protocols);
  if (!connection.ok()) return connection.status();
  spdy::Session& session = (*connection)->session();
  auto open =
      [&](const char* type) -> absl::StatusOr<std::shared_ptr<spdy::Stream>> {
    return session.Open({{"streamtype", type}}, kReplyTimeout);
  };
  absl::StatusOr<std::shared_ptr<spdy::Stream>> error = open("error");
  if (!error.ok()) return error.status();
  std::shared_ptr<spdy::Stream> in, out, err, resize;
  if (options.stdin.has_value()) {
    absl::StatusOr<std::shared_ptr<spdy::Stream>> s = open("stdin");
    if (!s.ok()) return s.status();
    in = *s;
  }
  if (options.stdout) {
    absl::StatusOr<std::shared_ptr<spdy::Stream>> s = open("stdout");
    if (!s.ok()) return s.status();
    out = *s;
  }
  if (options.stderr && !options.tty) {
    absl::StatusOr<std::shared_ptr<spdy::Stream>> s = open("stderr");
    if (!s.ok()) return s.status();
    err = *s;
  }
  if (options.tty && (*connection)->protocol() != "v2.channel.k8s.io") {
    absl::StatusOr<std::shared_ptr<spdy::Stream>> s = open("resize");
    if (!s.ok()) return s.status();
    resize = *s;
  }
  Drain error_text(*error), out_text(out), err_text(err);
  for (const TerminalSize& size : options.resizes) {
    if (resize == nullptr) break;
    nlohmann::json j = {{"Width", size.width}, {"Height", size.height}};
    (void)resize->Write(j.dump() + "\n");
  }
  if (in != nullptr) {
    (void)in->Write(*options.stdin);
    in->Close();
  }
  CommandClientResult result;
  result.protocol = (*connection)->protocol();
  result.error = error_text.Take();
  result.stdout = out_text.Take();
  result.stderr = err_text.Take();
  return result;
}

std::optional<int> ExitCodeOf(const std::string& v4_status) {
  nlohmann::json j = nlohmann::json::parse(v4_status, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  if (j.value("status", "") == "Success") return 0;
  if (j.value("reason", "") != "NonZeroExitCode") return std::nullopt;
  for (const auto& cause : j["details"]["causes"]) {
    int code = 0;
    if (cause.value("reason", "") == "ExitCode" &&
        absl::SimpleAtoi(cause.value("message", ""), &code)) {
      return code;
    }
  }
  return std::nullopt;
}

absl::StatusOr<ForwardResult> ForwardOnce(SpdyConnection& connection, int port,
                                          const std::string& send,
                                          int request_id) {
  spdy::Headers headers = {{"streamtype", "error"},
                           {"port", absl::StrCat(port)},
                           {"requestid", absl::StrCat(request_id)}};
  absl::StatusOr<std::shared_ptr<spdy::Stream>> error =
      connection.session().Open(headers, kReplyTimeout);
  if (!error.ok()) return error.status();
  (*error)->Close();  // the client never writes errors
  headers[0].second = "data";
  absl::StatusOr<std::shared_ptr<spdy::Stream>> data =
      connection.session().Open(headers, kReplyTimeout);
  if (!data.ok()) return data.status();
  Drain error_text(*error), data_text(*data);
  if (!send.empty()) (void)(*data)->Write(send);
  (*data)->Close();
  ForwardResult result;
  result.data = data_text.Take();
  result.error = error_text.Take();
  return result;
}

}  // namespace cradle::streaming
