#include "streaming/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/cleanup/cleanup.h"
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

// Whether accept failed for want of a resource that comes back by itself:
// retrying at once would only spin.
bool OutOfResources(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS ||
         error == ENOMEM;
}

// Best effort and never blocking: the acceptor must not wait on a client.
// Leaves `fd` open.
void SayUnavailable(int fd, absl::string_view why) {
  std::string body = absl::StrCat(why, "\n");
  std::string text = absl::StrCat(
      "HTTP/1.1 503 Service Unavailable\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: ",
      body.size(), "\r\nConnection: close\r\n\r\n", body);
  (void)!send(fd, text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

// What the exception being handled says; call only inside a catch.
std::string CurrentError() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown exception";
  }
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
  if (options.max_connections < 1 || options.max_pending_heads < 1) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        "streaming max_connections and max_pending_heads must be at least 1, "
        "not ",
        options.max_connections, " and ", options.max_pending_heads));
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
    // Every fd here is still open: threads forget theirs before closing.
    for (const auto& [id, c] : connections_) shutdown(c.fd, SHUT_RDWR);
  }
  shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  close(listener_);
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* threads) { return *threads == 0; }, &threads_));
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
  absl::Time last_warning = absl::InfinitePast();
  for (;;) {
    int fd = options_.hooks.accept
                 ? options_.hooks.accept(listener_)
                 : accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      // Nothing may escape the acceptor: it would end the daemon.
      try {
        Dispatch(fd);
      } catch (...) {
        LOG(WARNING) << "streaming: cannot take a connection: "
                     << CurrentError();
      }
      continue;
    }
    int error = errno;
    if (error == EINTR || error == ECONNABORTED) continue;
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    // Out of fds (or any other failure): a retry at once fails the same
    // way, so wait a little, waking early when the server stops.
    if (absl::Now() - last_warning > absl::Seconds(10)) {
      last_warning = absl::Now();
      LOG(WARNING) << "streaming: accept: " << strerror(error)
                   << (OutOfResources(error) ? "; out of resources, backing off"
                                             : "; retrying");
    }
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.accept_backoff);
    if (stopping_) return;
  }
}

void Server::EvictOldestHead() {
  for (auto it = connections_.begin(); it != connections_.end(); ++it) {
    if (!it->second.head) continue;
    VLOG(1) << "streaming: " << pending_heads_
            << " connections still sending their request head; dropping "
               "the oldest";
    SayUnavailable(it->second.fd,
                   "too many connections are sending their request head; "
                   "this one waited longest");
    // Its thread, reading the head, wakes and closes the fd.
    shutdown(it->second.fd, SHUT_RDWR);
    connections_.erase(it);
    --pending_heads_;
    return;
  }
}

void Server::Forget(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  if (it->second.head) {
    --pending_heads_;
  } else {
    --served_;
  }
  connections_.erase(it);
}

void Server::Dispatch(int fd) {
  // The fd is closed here, whatever throws, until a thread has it.
  absl::Cleanup close_fd = [fd] { close(fd); };
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (pending_heads_ >= options_.max_pending_heads) EvictOldestHead();
    id = next_id_++;
    connections_.emplace(id, Connection{fd});
    ++pending_heads_;
    ++threads_;
  }
  auto done = [this] {
    absl::MutexLock lock(&mu_);
    --threads_;
  };
  try {
    std::function<void()> work = [this, id, fd, done] {
      // Nothing may escape a connection thread: it would end the daemon.
      try {
        HandleConnection(id, fd);
      } catch (...) {
        LOG(ERROR) << "streaming: connection fd=" << fd
                   << " failed: " << CurrentError();
      }
      Forget(id);
      done();
    };
    if (options_.hooks.start_thread) {
      options_.hooks.start_thread(std::move(work));
    } else {
      std::thread(std::move(work)).detach();
    }
  } catch (...) {
    LOG(WARNING) << "streaming: cannot start a connection thread: "
                 << CurrentError() << "; refusing the connection";
    Forget(id);
    done();
    SayUnavailable(fd, "the streaming server cannot take a connection now");
    return;
  }
  std::move(close_fd).Cancel();
}

void Server::HandleConnection(uint64_t id, int fd) {
  // Until a session takes the fd, leaving by any path closes it, after the
  // server has forgotten it.
  absl::Cleanup close_fd = [this, id, fd] {
    Forget(id);
    close(fd);
  };
  absl::StatusOr<HttpRequest> http =
      ReadHttpRequest(fd, absl::Now() + options_.request_timeout);
  if (!http.ok()) {
    auto [code, reason] = HttpErrorFor(http.status());
    WriteHttpResponse(fd, code, reason, http.status().message());
    return;
  }
  // The head is in: from here the connection counts against
  // max_connections.
  int served;
  {
    absl::MutexLock lock(&mu_);
    auto it = connections_.find(id);
    if (it == connections_.end()) return;  // evicted as its head came in
    served = served_;
    if (served_ < options_.max_connections) {
      it->second.head = false;
      --pending_heads_;
      ++served_;
    }
  }
  if (served >= options_.max_connections) {
    VLOG(1) << "streaming: " << served << " connections open; refusing";
    SayUnavailable(fd, absl::StrCat(
                           "the streaming server is serving its limit of ",
                           options_.max_connections,
                           " connections; try again later"));
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
    return;
  }
  const bool forward = std::holds_alternative<PortForwardRequest>(*request);
  const bool upgrade = http->HeaderHasToken("Connection", "upgrade");
  // The session closes the fd; the server must forget it first.
  std::function<void()> forget = [this, id] { Forget(id); };
  if (upgrade && http->HeaderHasToken("Upgrade", "websocket")) {
    if (forward) {
      WriteHttpResponse(fd, 400, "Bad Request",
                        "port forwarding is served over SPDY/3.1 only");
      return;
    }
    std::string protocol = AcceptWebSocket(fd, *http);
    if (protocol.empty()) return;
    std::move(close_fd).Cancel();
    ServeCommandOverWebSocket(fd, std::move(http->rest), protocol,
                              std::get<CommandRequest>(*request), runtime_,
                              options_.stream_timeouts, std::move(forget));
    return;
  }
  if (!upgrade || !http->HeaderHasToken("Upgrade", "SPDY/3.1")) {
    WriteHttpResponse(fd, 400, "Bad Request",
                      "this endpoint needs an upgrade to SPDY/3.1 or "
                      "websocket");
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
    return;
  }
  if (!WriteHttpHead(fd, 101, "Switching Protocols",
                     {{"Connection", "Upgrade"},
                      {"Upgrade", "SPDY/3.1"},
                      {"X-Stream-Protocol-Version", protocol}})) {
    return;
  }
  std::move(close_fd).Cancel();
  if (forward) {
    ServePortForwardOverSpdy(fd, std::move(http->rest),
                             std::get<PortForwardRequest>(*request), runtime_,
                             options_.stream_timeouts, std::move(forget));
  } else {
    ServeCommandOverSpdy(fd, std::move(http->rest), protocol,
                         std::get<CommandRequest>(*request), runtime_,
                         options_.stream_timeouts, std::move(forget));
  }
}

std::string Server::AcceptWebSocket(int fd, const HttpRequest& http) {
  std::string key = http.Header("Sec-WebSocket-Key");
  if (key.empty() || http.Header("Sec-WebSocket-Version") != "13") {
    WriteHttpResponse(fd, 400, "Bad Request",
                      "a websocket upgrade needs Sec-WebSocket-Key and "
                      "Sec-WebSocket-Version: 13");
    return "";
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
    return "";
  }
  if (!WriteHttpHead(fd, 101, "Switching Protocols",
                     {{"Upgrade", "websocket"},
                      {"Connection", "Upgrade"},
                      {"Sec-WebSocket-Accept", WebSocketAccept(key)},
                      {"Sec-WebSocket-Protocol", protocol}})) {
    return "";
  }
  return protocol;
}

}  // namespace cradle::streaming
