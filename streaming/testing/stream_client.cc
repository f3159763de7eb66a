#include "streaming/testing/stream_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "streaming/http.h"

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

absl::StatusOr<std::unique_ptr<SpdyConnection>> DialSpdy(
    const std::string& url, const std::vector<std::string>& protocols,
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
  std::string head =
      absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: ", host_port,
                   "\r\nConnection: Upgrade\r\n"
                   "Upgrade: SPDY/3.1\r\n");
  for (const std::string& p : protocols) {
    absl::StrAppend(&head, "X-Stream-Protocol-Version: ", p, "\r\n");
  }
  head += "Content-Length: 0\r\n\r\n";
  WriteAll(fd, head);
  // The answer's head; what follows it belongs to the upgraded protocol.
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
  std::vector<std::string> lines =
      absl::StrSplit(buffer.substr(0, end), "\r\n");
  std::vector<std::string> status = absl::StrSplit(lines[0], ' ');
  int code = 0;
  if (status.size() < 2 || !absl::SimpleAtoi(status[1], &code)) {
    close(fd);
    return absl::InternalError(absl::StrCat("bad status line: ", lines[0]));
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
  std::string protocol;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (absl::StartsWithIgnoreCase(lines[i], "X-Stream-Protocol-Version:")) {
      protocol = std::string(
          absl::StripAsciiWhitespace(absl::string_view(lines[i]).substr(26)));
    }
  }
  return std::make_unique<SpdyConnection>(fd, buffer.substr(end + 4), protocol);
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
