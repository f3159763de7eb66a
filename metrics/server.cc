#include "metrics/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"
#include "lite/net.h"

namespace cradle::metrics {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

std::string Response(int code, absl::string_view reason,
                     absl::string_view content_type, absl::string_view body,
                     bool head, absl::string_view extra_headers = "") {
  std::string out = absl::StrCat(
      "HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", content_type,
      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n",
      extra_headers, "\r\n");
  if (!head) out.append(body.data(), body.size());
  return out;
}

std::string Plain(int code, absl::string_view reason,
                  absl::string_view extra_headers = "") {
  return Response(code, reason, "text/plain; charset=utf-8",
                  absl::StrCat(reason, "\n"), /*head=*/false, extra_headers);
}

int RemainingMs(absl::Time deadline) {
  return std::max<int64_t>(0,
                           absl::ToInt64Milliseconds(deadline - absl::Now()));
}

// Reads until the end of the request head, or "" if the client is too slow,
// too big or gone; *too_big tells the last apart.
std::string ReadHead(int fd, absl::Duration timeout, size_t max_bytes,
                     bool* too_big) {
  std::string buf;
  absl::Time deadline = absl::Now() + timeout;
  char chunk[1024];
  while (buf.find("\r\n\r\n") == std::string::npos &&
         buf.find("\n\n") == std::string::npos) {
    if (buf.size() > max_bytes) {
      *too_big = true;
      return "";
    }
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, RemainingMs(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return "";
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return "";
    buf.append(chunk, n);
  }
  return buf;
}

void WriteAll(int fd, absl::string_view data, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!data.empty()) {
    pollfd p{fd, POLLOUT, 0};
    int ready = poll(&p, 1, RemainingMs(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return;
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;
    data.remove_prefix(n);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, const Registry* registry) {
  absl::StatusOr<ListenAddress> addr =
      ParseListenAddress(options.address, options.allow_any_port);
  if (!addr.ok()) return addr.status();
  if (!lite::IsLoopbackHost(addr->host)) {
    // One connection is answered at a time, unauthenticated: anyone who
    // reaches the port can read the node's pod counts and hold up scrapes.
    LOG(WARNING) << "metrics: " << options.address
                 << " is not a loopback address; keep it on a trusted network";
  }
  auto fail = [&](absl::string_view what, int fd1, int fd2) {
    int err = errno;
    if (fd1 >= 0) close(fd1);
    if (fd2 >= 0) close(fd2);
    return absl::UnavailableError(absl::StrCat(
        "metrics: ", what, " ", options.address, ": ", strerror(err)));
  };
  int fd = socket(addr->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket for", -1, -1);
  int one = 1;
  // A restarted daemon must rebind while old connections sit in TIME_WAIT.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr->addr), addr->len) !=
      0) {
    return fail("cannot bind", fd, -1);
  }
  if (listen(fd, 16) != 0) return fail("cannot listen on", fd, -1);
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return fail("getsockname", fd, -1);
  }
  int port = ntohs(bound.ss_family == AF_INET6
                       ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                       : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) return fail("eventfd for", fd, -1);
  std::unique_ptr<Server> server(new Server(options, registry, fd, wake, port));
  server->thread_ = std::thread([s = server.get()] { s->Loop(); });
  return server;
}

Server::Server(const ServerOptions& options, const Registry* registry,
               int listen_fd, int wake_fd, int port)
    : options_(options),
      registry_(registry),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port) {}

Server::~Server() { Stop(); }

void Server::Stop() {
  if (stopped_) return;
  stopped_ = true;
  uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    PLOG(WARNING) << "metrics: waking the server";
  }
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void Server::Loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      PLOG(ERROR) << "metrics: poll; the metrics endpoint stops";
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      // A client that gave up before accept, or out of fds: try again later.
      if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
        PLOG_EVERY_N(WARNING, 100) << "metrics: accept";
      }
      continue;
    }
    try {
      Serve(conn);
    } catch (const std::exception& e) {
      LOG(ERROR) << "metrics: answering a scrape: " << e.what();
    } catch (...) {
      LOG(ERROR) << "metrics: answering a scrape: unknown exception";
    }
    close(conn);
  }
}

void Server::Serve(int fd) {
  bool too_big = false;
  std::string head =
      ReadHead(fd, options_.read_timeout, options_.max_request_bytes, &too_big);
  if (too_big) {
    WriteAll(fd, Plain(431, "Request Header Fields Too Large"),
             options_.write_timeout);
    return;
  }
  if (head.empty()) return;  // too slow or gone: nobody to answer
  absl::string_view line(head);
  line = line.substr(0, line.find_first_of("\r\n"));
  std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
    WriteAll(fd, Plain(400, "Bad Request"), options_.write_timeout);
    return;
  }
  absl::string_view method = parts[0];
  absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  std::string answer;
  if (path != "/v1/metrics" && path != "/metrics") {
    answer = Plain(404, "Not Found");
  } else if (method != "GET" && method != "HEAD") {
    answer = Plain(405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
  } else {
    answer = Response(200, "OK", kContentType, registry_->Exposition(),
                      /*head=*/method == "HEAD");
  }
  WriteAll(fd, answer, options_.write_timeout);
}

}  // namespace cradle::metrics
