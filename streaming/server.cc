#include "streaming/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "streaming/http.h"
#include "streaming/websocket.h"

namespace cradle::streaming {
namespace {

std::string RandomToken() {
  char bytes[12];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += n;
  }
  return absl::WebSafeBase64Escape(absl::string_view(bytes, sizeof(bytes)));
}

// The first protocol of ours the client offers; "" when it offers none of
// them.
std::string Negotiate(const HttpRequest& http,
                      const std::vector<std::string>& ours) {
  std::vector<std::string> theirs =
      http.HeaderValues("X-Stream-Protocol-Version");
  for (const std::string& p : ours) {
    for (const std::string& t : theirs) {
      if (p == t) return p;
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, StreamingRuntime* runtime) {
  bool v6 = absl::StrContains(options.address, ':');
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage address{};
  socklen_t length;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&address);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(options.port);
    length = sizeof(*a);
    if (inet_pton(AF_INET6, options.address.c_str(), &a->sin6_addr) != 1) {
      close(fd);
      return absl::InvalidArgumentError(absl::StrCat(
          "streaming address '", options.address, "' is not an IP address"));
    }
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&address);
    a->sin_family = AF_INET;
    a->sin_port = htons(options.port);
    length = sizeof(*a);
    if (inet_pton(AF_INET, options.address.c_str(), &a->sin_addr) != 1) {
      close(fd);
      return absl::InvalidArgumentError(absl::StrCat(
          "streaming address '", options.address, "' is not an IP address"));
    }
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(fd, 64) != 0) {
    std::string why = strerror(errno);
    close(fd);
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.address, ":", options.port, ": ", why));
  }
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  int port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                      : reinterpret_cast<sockaddr_in*>(&address)->sin_port);
  std::string host =
      v6 ? absl::StrCat("[", options.address, "]") : options.address;
  std::unique_ptr<Server> server(new Server(
      options, runtime, fd, absl::StrCat("http://", host, ":", port)));
  server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  LOG(INFO) << "streaming server on " << server->base_url();
  return server;
}

Server::~Server() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (int fd : connections_) shutdown(fd, SHUT_RDWR);
  }
  shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  close(listener_);
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* active) { return *active == 0; }, &active_));
}

std::string Server::Issue(const std::string& kind, Request request) {
  std::string token = RandomToken();
  absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    it = it->second.expires < now ? tokens_.erase(it) : std::next(it);
  }
  tokens_[token] = {std::move(request), now + options_.token_ttl};
  return absl::StrCat(base_url_, "/", kind, "/", token);
}

std::string Server::ExecUrl(const ExecOptions& options) {
  CommandRequest request;
  request.exec = options;
  return Issue("exec", request);
}

std::string Server::AttachUrl(const AttachOptions& options) {
  CommandRequest request;
  request.is_exec = false;
  request.attach = options;
  return Issue("attach", request);
}

std::string Server::PortForwardUrl(const PortForwardRequest& request) {
  return Issue("portforward", request);
}

absl::StatusOr<Server::Request> Server::Redeem(const std::string& token) {
  absl::MutexLock lock(&mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end() || it->second.expires < absl::Now()) {
    if (it != tokens_.end()) tokens_.erase(it);
    return absl::NotFoundError("unknown, used or expired streaming token");
  }
  Request request = std::move(it->second.request);
  tokens_.erase(it);
  return request;
}

void Server::AcceptLoop() {
  for (;;) {
    int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      LOG(WARNING) << "streaming: accept: " << strerror(errno);
      continue;
    }
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      close(fd);
      return;
    }
    ++active_;
    connections_.insert(fd);
    std::thread([this, fd] {
      HandleConnection(fd);
      absl::MutexLock lock(&mu_);
      connections_.erase(fd);
      --active_;
    }).detach();
  }
}

void Server::HandleConnection(int fd) {
  // A client gets a while to send its request; then the upgraded protocol
  // has timeouts of its own.
  int64_t micros = absl::ToInt64Microseconds(options_.request_timeout);
  timeval limit{static_cast<time_t>(micros / 1000000),
                static_cast<suseconds_t>(micros % 1000000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  absl::StatusOr<HttpRequest> http = ReadHttpRequest(fd);
  timeval none{0, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
  if (!http.ok()) {
    WriteHttpResponse(fd, 400, "Bad Request", http.status().message());
    close(fd);
    return;
  }
  std::string kind, token;
  for (const char* k : {"exec", "attach", "portforward"}) {
    std::string prefix = absl::StrCat("/", k, "/");
    if (absl::StartsWith(http->path, prefix)) {
      kind = k;
      token = http->path.substr(prefix.size());
    }
  }
  absl::StatusOr<Request> request =
      kind.empty() ? absl::NotFoundError("no such streaming endpoint")
                   : Redeem(token);
  if (!request.ok()) {
    WriteHttpResponse(fd, 404, "Not Found", request.status().message());
    close(fd);
    return;
  }
  const bool forward = std::holds_alternative<PortForwardRequest>(*request);
  const bool upgrade = http->HeaderHasToken("Connection", "upgrade");
  if (upgrade && http->HeaderHasToken("Upgrade", "websocket")) {
    if (forward) {
      WriteHttpResponse(fd, 400, "Bad Request",
                        "port forwarding is served over SPDY/3.1 only");
      close(fd);
      return;
    }
    ServeWebSocket(fd, *std::move(http), std::get<CommandRequest>(*request));
    return;
  }
  if (!upgrade || !http->HeaderHasToken("Upgrade", "SPDY/3.1")) {
    WriteHttpResponse(fd, 400, "Bad Request",
                      "this endpoint needs an upgrade to SPDY/3.1 or "
                      "websocket");
    close(fd);
    return;
  }
  std::vector<std::string> ours =
      forward ? std::vector<std::string>{kPortForwardProtocol}
              : SpdyCommandProtocols();
  std::string protocol = Negotiate(*http, ours);
  if (protocol.empty()) {
    WriteHttpResponse(
        fd, 403, "Forbidden",
        absl::StrCat("none of the offered stream protocols is supported; "
                     "supported: ",
                     absl::StrJoin(ours, ", ")));
    close(fd);
    return;
  }
  if (!WriteHttpHead(fd, 101, "Switching Protocols",
                     {{"Connection", "Upgrade"},
                      {"Upgrade", "SPDY/3.1"},
                      {"X-Stream-Protocol-Version", protocol}})) {
    close(fd);
    return;
  }
  if (forward) {
    ServePortForwardOverSpdy(fd, std::move(http->rest),
                             std::get<PortForwardRequest>(*request), runtime_);
  } else {
    ServeCommandOverSpdy(fd, std::move(http->rest), protocol,
                         std::get<CommandRequest>(*request), runtime_);
  }
}

void Server::ServeWebSocket(int fd, HttpRequest http,
                            const CommandRequest& request) {
  std::string key = http.Header("Sec-WebSocket-Key");
  if (key.empty() || http.Header("Sec-WebSocket-Version") != "13") {
    WriteHttpResponse(fd, 400, "Bad Request",
                      "a websocket upgrade needs Sec-WebSocket-Key and "
                      "Sec-WebSocket-Version: 13");
    close(fd);
    return;
  }
  std::string protocol = "";
  for (const std::string& ours : WebSocketCommandProtocols()) {
    if (http.HeaderHasToken("Sec-WebSocket-Protocol", ours)) {
      protocol = ours;
      break;
    }
  }
  if (protocol.empty()) {
    WriteHttpResponse(
        fd, 403, "Forbidden",
        absl::StrCat("none of the offered websocket protocols is supported; "
                     "supported: ",
                     absl::StrJoin(WebSocketCommandProtocols(), ", ")));
    close(fd);
    return;
  }
  if (!WriteHttpHead(fd, 101, "Switching Protocols",
                     {{"Upgrade", "websocket"},
                      {"Connection", "Upgrade"},
                      {"Sec-WebSocket-Accept", WebSocketAccept(key)},
                      {"Sec-WebSocket-Protocol", protocol}})) {
    close(fd);
    return;
  }
  ServeCommandOverWebSocket(fd, std::move(http.rest), protocol, request,
                            runtime_);
}

}  // namespace cradle::streaming
