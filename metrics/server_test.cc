#include "metrics/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cradle::metrics {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

// Sends `request` and reads until the server closes (bounded by a deadline).
std::string Roundtrip(int port, const std::string& request) {
  int fd = Connect(port);
  EXPECT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[4096];
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, n);
  }
  close(fd);
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("cradle_test_total", "Test.", {})->Inc({}, 7);
    ServerOptions o;
    o.address = "127.0.0.1:0";
    o.allow_any_port = true;
    o.read_timeout = absl::Milliseconds(300);
    o.max_request_bytes = 1024;
    auto s = Server::Start(o, &registry_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_GT(server_->port(), 0);
  }
  std::string Get(const std::string& path) {
    return Roundtrip(
        server_->port(),
        absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n\r\n"));
  }

  Registry registry_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, ServesExpositionOnBothPaths) {
  for (const char* path : {"/v1/metrics", "/metrics", "/metrics?x=1"}) {
    std::string r = Get(path);
    EXPECT_THAT(r, StartsWith("HTTP/1.1 200 OK\r\n")) << path;
    EXPECT_THAT(r, HasSubstr("Content-Type: text/plain; version=0.0.4; "
                             "charset=utf-8\r\n"));
    EXPECT_THAT(r, HasSubstr("Connection: close\r\n"));
    std::string body = registry_.Exposition();
    EXPECT_THAT(r, HasSubstr(absl::StrCat("Content-Length: ", body.size())));
    EXPECT_THAT(r, EndsWith("\r\n\r\n" + body));
    EXPECT_THAT(r, HasSubstr("cradle_test_total 7\n"));
  }
}

TEST_F(ServerTest, OtherPathIs404AndOtherMethodIs405) {
  EXPECT_THAT(Get("/"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(Get("/v1/metricsx"), StartsWith("HTTP/1.1 404 "));
  std::string post =
      Roundtrip(server_->port(),
                "POST /v1/metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_THAT(post, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD\r\n"));
}

TEST_F(ServerTest, HeadHasHeadersOnly) {
  std::string r = Roundtrip(server_->port(), "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r, EndsWith("\r\n\r\n"));
}

TEST_F(ServerTest, MalformedAndOversizedRequests) {
  EXPECT_THAT(Roundtrip(server_->port(), "hello\r\n\r\n"),
              StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(Roundtrip(server_->port(), "GET /metrics SPDY/3\r\n\r\n"),
              StartsWith("HTTP/1.1 400 "));
  std::string huge = "GET /metrics HTTP/1.1\r\nX: " + std::string(4096, 'a');
  EXPECT_THAT(Roundtrip(server_->port(), huge), StartsWith("HTTP/1.1 431 "));
}

TEST_F(ServerTest, SilentClientIsDroppedAfterTheReadTimeout) {
  int silent = Connect(server_->port());
  // Answered once the silent one has timed out (300 ms), not never.
  absl::Time start = absl::Now();
  EXPECT_THAT(Get("/metrics"), StartsWith("HTTP/1.1 200 "));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  char c;
  EXPECT_EQ(recv(silent, &c, 1, 0), 0);  // closed without an answer
  close(silent);
}

TEST_F(ServerTest, ThrowingCollectorDoesNotKillTheServer) {
  std::atomic<bool> throw_now{true};
  registry_.AddCollector([&] {
    if (throw_now) throw std::runtime_error("boom");
  });
  EXPECT_EQ(Get("/metrics"), "");  // connection closed, no answer
  throw_now = false;
  EXPECT_THAT(Get("/metrics"), StartsWith("HTTP/1.1 200 "));
}

TEST_F(ServerTest, StopIsIdempotentAndClosesThePort) {
  int port = server_->port();
  server_->Stop();
  server_->Stop();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  close(fd);
}

TEST_F(ServerTest, BindFailureIsUnavailableNamingTheAddress) {
  ServerOptions o;
  o.address = absl::StrCat("127.0.0.1:", server_->port());
  auto s = Server::Start(o, &registry_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(o.address));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("in use"));
}

TEST(Server, BadAddressIsInvalidArgument) {
  Registry r;
  ServerOptions o;
  o.address = "nowhere";
  auto s = Server::Start(o, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cradle::metrics
