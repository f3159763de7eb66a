// The libcurl client's classification of transport failures, against real
// sockets on 127.0.0.1: what RegistryClient's http fallback decides on.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "registry/http_client.h"

namespace cradle {
namespace {

// A plain http server on 127.0.0.1 that answers every connection 404,
// whatever it was sent (a TLS ClientHello too, as a real one would).
class PlainHttpServer {
 public:
  PlainHttpServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0 &&
        listen(fd_, 8) == 0) {
      port_ = ntohs(a.sin_port);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~PlainHttpServer() {
    shutdown(fd_, SHUT_RDWR);  // ends accept()
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  void Serve() {
    for (;;) {
      int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) return;
      char buf[4096];
      (void)read(conn, buf, sizeof(buf));
      static constexpr char kAnswer[] =
          "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
          "Connection: close\r\n\r\n";
      (void)write(conn, kAnswer, sizeof(kAnswer) - 1);
      close(conn);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(CurlHttpClientTest, TlsToAPlainHttpServerIsAHandshakeFailure) {
  PlainHttpServer server;
  ASSERT_GT(server.port(), 0);
  std::unique_ptr<HttpClient> http = NewCurlHttpClient();
  HttpRequest request;
  request.url = absl::StrCat("https://127.0.0.1:", server.port(), "/v2/");
  request.timeout = absl::Seconds(10);
  absl::StatusOr<HttpResponse> tls = http->Do(request, nullptr, 1 << 10);
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(TransportFailureOf(tls.status()), TransportFailure::kTlsHandshake)
      << tls.status();

  request.url = absl::StrCat("http://127.0.0.1:", server.port(), "/v2/");
  absl::StatusOr<HttpResponse> plain = http->Do(request, nullptr, 1 << 10);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->status, 404) << "an HTTP status is an answer";
}

TEST(CurlHttpClientTest, NobodyListeningIsAConnectFailure) {
  int port = 0;
  {
    PlainHttpServer gone;  // a port that was free, closed again
    port = gone.port();
  }
  ASSERT_GT(port, 0);
  std::unique_ptr<HttpClient> http = NewCurlHttpClient();
  HttpRequest request;
  request.url = absl::StrCat("https://127.0.0.1:", port, "/v2/");
  request.timeout = absl::Seconds(10);
  absl::StatusOr<HttpResponse> r = http->Do(request, nullptr, 1 << 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(TransportFailureOf(r.status()), TransportFailure::kConnect)
      << r.status();
  EXPECT_EQ(TransportFailureOf(absl::UnavailableError("x")),
            TransportFailure::kOther);
}

}  // namespace
}  // namespace cradle
