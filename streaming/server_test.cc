// The streaming server against a scripted runtime: the wire protocols,
// tokens and error paths. The real runtime is exercised in e2e tests.
#include "streaming/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "streaming/testing/stream_client.h"
#include "streaming/websocket.h"

namespace cradle::streaming {
namespace {

// A TCP connection to 127.0.0.1:port, or -1.
int ConnectToLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// cmd[0] picks the behaviour: "echo" copies stdin to stdout and exits with
// cmd[1]; "sizes" prints each terminal size; "fail" cannot start; "hang"
// runs until the client leaves.
class ScriptedRuntime : public StreamingRuntime {
 public:
  absl::StatusOr<int> Exec(const ExecOptions& options, CommandIo* io) override {
    const std::string& what = options.cmd[0];
    if (what == "fail") return absl::NotFoundError("no such binary: fail");
    if (what == "hang") {
      absl::Notification gone;
      io->OnClientGone([&] { gone.Notify(); });
      gone.WaitForNotification();
      cancelled = true;
      return 137;
    }
    if (what == "sizes") {
      TerminalSize size;
      while (io->NextResize(&size)) {
        (void)io->WriteStdout(absl::StrCat(size.width, "x", size.height, ";"));
        if (size.width == 1) break;  // the last one
      }
      io->StopInput();
      return 0;
    }
    std::string chunk;
    while (io->ReadStdin(&chunk)) (void)io->WriteStdout(chunk);
    (void)io->WriteStderr("done\n");
    io->StopInput();
    int code = 0;
    if (options.cmd.size() > 1) (void)absl::SimpleAtoi(options.cmd[1], &code);
    return code;
  }

  absl::Status Attach(const AttachOptions& options, CommandIo* io) override {
    (void)io->WriteStdout("attached to " + options.container_id);
    io->StopInput();
    return absl::OkStatus();
  }

  absl::StatusOr<int> DialPod(const std::string& pod_id,
                              int32_t port) override {
    ++dials;
    if (pod_id != "pod1") return absl::NotFoundError("no such pod");
    int fd = ConnectToLoopback(port);
    if (fd < 0) return absl::UnavailableError("connection refused");
    return fd;
  }

  std::atomic<bool> cancelled{false};
  std::atomic<int> dials{0};
};

// A TCP server on loopback that answers each connection with "echo:" and
// what it read, once the client finished sending.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 8);
    socklen_t n = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      int c;
      while ((c = accept(fd_, nullptr, nullptr)) >= 0) {
        std::string got = "echo:";
        char buf[4096];
        ssize_t r;
        while ((r = read(c, buf, sizeof(buf))) > 0) got.append(buf, r);
        (void)!write(c, got.data(), got.size());
        close(c);
      }
    });
  }
  ~EchoServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
  std::thread thread_;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Server>> s = Server::Start({}, &runtime_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  std::string Exec(std::vector<std::string> cmd, bool tty = false) {
    ExecOptions o;
    o.container_id = "c1";
    o.cmd = std::move(cmd);
    o.tty = tty;
    o.stdin = true;
    o.stdout = true;
    o.stderr = !tty;
    return server_->ExecUrl(o);
  }

  ScriptedRuntime runtime_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, ExecCarriesStdioAndExitCodes) {
  CommandClientOptions o;
  o.stdin = "hello over spdy";
  absl::StatusOr<CommandClientResult> r = RunRemoteCommand(Exec({"echo"}), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->protocol, "v4.channel.k8s.io");
  EXPECT_EQ(r->stdout, "hello over spdy");
  EXPECT_EQ(r->stderr, "done\n");
  EXPECT_EQ(ExitCodeOf(r->error), 0) << r->error;

  r = RunRemoteCommand(Exec({"echo", "3"}), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ExitCodeOf(r->error), 3) << r->error;
  EXPECT_TRUE(absl::StrContains(r->error, "NonZeroExitCode")) << r->error;
}

TEST_F(ServerTest, ExecThatCannotStartSaysWhy) {
  CommandClientOptions o;
  o.stdin = "";
  absl::StatusOr<CommandClientResult> r = RunRemoteCommand(Exec({"fail"}), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ExitCodeOf(r->error), std::nullopt);
  EXPECT_TRUE(absl::StrContains(r->error, "no such binary: fail")) << r->error;
}

TEST_F(ServerTest, OlderProtocolsGetPlainTextErrors) {
  CommandClientOptions o;
  o.protocols = {"v2.channel.k8s.io"};
  o.stdin = "x";
  absl::StatusOr<CommandClientResult> r =
      RunRemoteCommand(Exec({"echo", "4"}), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->protocol, "v2.channel.k8s.io");
  EXPECT_EQ(r->stdout, "x");
  EXPECT_TRUE(absl::StrContains(r->error, "exited with code 4")) << r->error;
  EXPECT_FALSE(absl::StrContains(r->error, "{")) << r->error;
}

TEST_F(ServerTest, TtyResizesReachTheCommand) {
  CommandClientOptions o;
  o.tty = true;
  o.stdin = "";
  o.resizes = {{80, 24}, {120, 40}, {1, 1}};
  absl::StatusOr<CommandClientResult> r =
      RunRemoteCommand(Exec({"sizes"}, /*tty=*/true), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout, "80x24;120x40;1x1;");
  EXPECT_EQ(ExitCodeOf(r->error), 0) << r->error;
}

TEST_F(ServerTest, AttachAnswersSuccessWhenItEnds) {
  AttachOptions a;
  a.container_id = "c9";
  a.stdout = true;
  CommandClientOptions o;
  o.stderr = false;
  absl::StatusOr<CommandClientResult> r =
      RunRemoteCommand(server_->AttachUrl(a), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout, "attached to c9");
  EXPECT_EQ(ExitCodeOf(r->error), 0) << r->error;
}

TEST_F(ServerTest, TokensWorkOnceAndUnknownOnesAre404) {
  std::string url = Exec({"echo"});
  CommandClientOptions o;
  o.stdin = "";
  ASSERT_TRUE(RunRemoteCommand(url, o).ok());
  HttpAnswer answer;
  EXPECT_FALSE(DialSpdy(url, {"v4.channel.k8s.io"}, &answer).ok());
  EXPECT_EQ(answer.code, 404);
  EXPECT_TRUE(absl::StrContains(answer.body, "token")) << answer.body;
  answer = {};
  EXPECT_FALSE(DialSpdy(server_->base_url() + "/exec/nope",
                        {"v4.channel.k8s.io"}, &answer)
                   .ok());
  EXPECT_EQ(answer.code, 404);
}

TEST(ServerTokens, ExpireAfterTheirTtl) {
  ScriptedRuntime runtime;
  ServerOptions options;
  options.token_ttl = absl::Milliseconds(1);
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(options, &runtime);
  ASSERT_TRUE(s.ok());
  ExecOptions e;
  e.cmd = {"echo"};
  e.stdout = true;
  std::string url = (*s)->ExecUrl(e);
  absl::SleepFor(absl::Milliseconds(20));
  HttpAnswer answer;
  EXPECT_FALSE(DialSpdy(url, {"v4.channel.k8s.io"}, &answer).ok());
  EXPECT_EQ(answer.code, 404);
}

TEST(ServerConnections, ASilentClientIsDroppedAfterTheRequestTimeout) {
  ScriptedRuntime runtime;
  ServerOptions options;
  options.request_timeout = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(options, &runtime);
  ASSERT_TRUE(s.ok());
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      (*s)->base_url().substr((*s)->base_url().rfind(':') + 1), &port));
  int fd = ConnectToLoopback(port);
  ASSERT_GE(fd, 0);
  // Send nothing: the server answers 408 and hangs up on its own.
  std::string answer;
  char buf[512];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) answer.append(buf, n);
  close(fd);
  EXPECT_TRUE(absl::StartsWith(answer, "HTTP/1.1 408")) << answer;
  EXPECT_TRUE(absl::StrContains(answer, "time limit")) << answer;
}

TEST_F(ServerTest, UnsupportedProtocolsAreRefusedByName) {
  HttpAnswer answer;
  EXPECT_FALSE(DialSpdy(Exec({"echo"}), {"v9.channel.k8s.io"}, &answer).ok());
  EXPECT_EQ(answer.code, 403);
  EXPECT_TRUE(absl::StrContains(answer.body, "v4.channel.k8s.io"))
      << answer.body;
}

TEST_F(ServerTest, ClientLeavingCancelsTheCommand) {
  std::string url = Exec({"hang"});
  {
    absl::StatusOr<std::unique_ptr<SpdyConnection>> c =
        DialSpdy(url, {"v4.channel.k8s.io"});
    ASSERT_TRUE(c.ok()) << c.status();
    for (const char* type : {"error", "stdin", "stdout", "stderr"}) {
      ASSERT_TRUE(
          (*c)->session().Open({{"streamtype", type}}, absl::Seconds(5)).ok());
    }
  }  // hangs up mid-command
  for (int i = 0; i < 100 && !runtime_.cancelled; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(runtime_.cancelled);
}

TEST_F(ServerTest, PortForwardReachesThePodPort) {
  EchoServer echo;
  PortForwardRequest request{"pod1", {}};
  absl::StatusOr<std::unique_ptr<SpdyConnection>> c =
      DialSpdy(server_->PortForwardUrl(request), {"portforward.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->protocol(), "portforward.k8s.io");
  for (int id = 0; id < 3; ++id) {
    absl::StatusOr<ForwardResult> r =
        ForwardOnce(**c, echo.port(), absl::StrCat("ping ", id), id);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->data, absl::StrCat("echo:ping ", id));
    EXPECT_EQ(r->error, "");
  }
}

TEST_F(ServerTest, PortForwardErrorsGoToTheErrorStream) {
  EchoServer echo;
  PortForwardRequest request{"pod1", {echo.port()}};
  absl::StatusOr<std::unique_ptr<SpdyConnection>> c =
      DialSpdy(server_->PortForwardUrl(request), {"portforward.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<ForwardResult> r = ForwardOnce(**c, echo.port() + 1, "x", 1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(absl::StrContains(r->error, "was not requested")) << r->error;
  r = ForwardOnce(**c, echo.port(), "y", 2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data, "echo:y");
}

}  // namespace
}  // namespace cradle::streaming

namespace cradle::streaming {
namespace {

TEST(WebSocketAccept, MatchesTheRfcExample) {
  // RFC 6455, section 1.3.
  EXPECT_EQ(WebSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_F(ServerTest, ExecOverWebSocketV5) {
  CommandClientOptions o;
  o.protocols = {"v5.channel.k8s.io", "v4.channel.k8s.io"};
  o.stdin = "over a websocket";
  absl::StatusOr<CommandClientResult> r =
      RunRemoteCommandOverWebSocket(Exec({"echo", "6"}), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->protocol, "v5.channel.k8s.io");
  EXPECT_EQ(r->stdout, "over a websocket");
  EXPECT_EQ(r->stderr, "done\n");
  EXPECT_EQ(ExitCodeOf(r->error), 6) << r->error;
}

TEST_F(ServerTest, WebSocketV4HasNoEndOfStdinButResizesWork) {
  CommandClientOptions o;
  o.protocols = {"v4.channel.k8s.io"};
  o.tty = true;
  o.stdin = "";
  o.resizes = {{90, 30}, {1, 1}};
  absl::StatusOr<CommandClientResult> r =
      RunRemoteCommandOverWebSocket(Exec({"sizes"}, /*tty=*/true), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->protocol, "v4.channel.k8s.io");
  EXPECT_EQ(r->stdout, "90x30;1x1;");
  EXPECT_EQ(ExitCodeOf(r->error), 0) << r->error;
}

TEST_F(ServerTest, WebSocketRefusals) {
  CommandClientOptions o;
  o.protocols = {"base64.channel.k8s.io"};
  HttpAnswer answer;
  EXPECT_FALSE(RunRemoteCommandOverWebSocket(Exec({"echo"}), o, &answer).ok());
  EXPECT_EQ(answer.code, 403);
  EXPECT_TRUE(absl::StrContains(answer.body, "v5.channel.k8s.io"))
      << answer.body;
  o.protocols = {"v4.channel.k8s.io"};
  answer = {};
  EXPECT_FALSE(RunRemoteCommandOverWebSocket(
                   server_->PortForwardUrl({"pod1", {}}), o, &answer)
                   .ok());
  EXPECT_EQ(answer.code, 400);
}

}  // namespace
}  // namespace cradle::streaming

// Hostile and unlucky clients: connections and threads are bounded, and
// running out of descriptors or threads costs a connection, not the daemon.
namespace cradle::streaming {
namespace {

int PortOf(const Server& server) {
  int port = 0;
  const std::string& url = server.base_url();
  EXPECT_TRUE(absl::SimpleAtoi(url.substr(url.rfind(':') + 1), &port));
  return port;
}

// What the server sends on `fd` until it hangs up; nullopt if it does not
// hang up within `limit`.
std::optional<std::string> AnswerUntilClosed(int fd, absl::Duration limit) {
  std::string answer;
  absl::Time deadline = absl::Now() + limit;
  for (;;) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <=
        0) {
      continue;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return answer;
    answer.append(buf, n);
  }
}

// Sends a request for an unknown token on a new connection: a server that
// serves it answers 404.
std::string AskForNothing(int port) {
  int fd = ConnectToLoopback(port);
  if (fd < 0) return "cannot connect";
  (void)!write(fd, "GET /exec/none HTTP/1.1\r\n\r\n", 27);
  std::optional<std::string> answer = AnswerUntilClosed(fd, absl::Seconds(10));
  close(fd);
  return answer.value_or("no answer");
}

TEST(ServerLimits, ATrickledHeadIsCutAtItsDeadline) {
  ScriptedRuntime runtime;
  ServerOptions options;
  options.request_timeout = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(options, &runtime);
  ASSERT_TRUE(s.ok()) << s.status();
  int fd = ConnectToLoopback(PortOf(**s));
  ASSERT_GE(fd, 0);
  // One byte every 50 ms: each read comes well within any per-read
  // timeout, and the head never ends.
  const std::string head =
      "GET /exec/x HTTP/1.1\r\nX-Slow: " + std::string(1000, 'a');
  absl::Time start = absl::Now();
  std::string answer;
  bool closed = false;
  for (size_t i = 0; i < head.size() && !closed; ++i) {
    bool sent = send(fd, &head[i], 1, MSG_NOSIGNAL) == 1;
    pollfd p{fd, POLLIN, 0};
    if (!sent || poll(&p, 1, 50) == 1) {
      std::optional<std::string> rest = AnswerUntilClosed(fd, absl::Seconds(5));
      closed = rest.has_value();
      answer = rest.value_or("");
    }
    if (absl::Now() - start > absl::Seconds(10)) break;
  }
  close(fd);
  ASSERT_TRUE(closed) << "still open after " << absl::Now() - start;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(absl::StartsWith(answer, "HTTP/1.1 408")) << answer;
}

TEST(ServerLimits, AnOversizedHeadIsRefused) {
  ScriptedRuntime runtime;
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start({}, &runtime);
  ASSERT_TRUE(s.ok()) << s.status();
  int fd = ConnectToLoopback(PortOf(**s));
  ASSERT_GE(fd, 0);
  // Exactly the limit, never ending: all of it is read, none left unread
  // to turn the server's close into a reset.
  std::string head = "GET /exec/x HTTP/1.1\r\n";
  while (head.size() < kMaxHttpHead) head += "X-Pad: 0123456789\r\n";
  head.resize(kMaxHttpHead);
  ASSERT_TRUE(WriteAll(fd, head));
  std::optional<std::string> answer = AnswerUntilClosed(fd, absl::Seconds(5));
  close(fd);
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(absl::StartsWith(*answer, "HTTP/1.1 431")) << *answer;
}

TEST(ServerLimits, ConnectionsPastTheCapAreRefusedAndOthersStillServed) {
  ScriptedRuntime runtime;
  ServerOptions options;
  options.max_connections = 2;
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(options, &runtime);
  ASSERT_TRUE(s.ok()) << s.status();
  const int port = PortOf(**s);
  // Two upgraded, idle sessions fill the cap.
  std::unique_ptr<SpdyConnection> held[2];
  for (auto& h : held) {
    absl::StatusOr<std::unique_ptr<SpdyConnection>> c =
        DialSpdy((*s)->PortForwardUrl({"pod1", {}}), {"portforward.k8s.io"});
    ASSERT_TRUE(c.ok()) << c.status();
    h = *std::move(c);
  }
  std::string refused = AskForNothing(port);
  EXPECT_TRUE(absl::StartsWith(refused, "HTTP/1.1 503")) << refused;
  EXPECT_TRUE(absl::StrContains(refused, "limit of 2")) << refused;

  // With a slot given back, a real exec works again (the server frees it
  // once its thread has seen the hang-up, so allow it a moment).
  held[0].reset();
  ExecOptions e;
  e.cmd = {"echo"};
  e.stdin = true;
  e.stdout = true;
  CommandClientOptions o;
  o.stdin = "after the flood";
  o.stderr = false;
  absl::StatusOr<CommandClientResult> r;
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  do {
    r = RunRemoteCommand((*s)->ExecUrl(e), o);
  } while (!r.ok() && absl::Now() < deadline);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout, "after the flood");
}

TEST(ServerLimits, SilentConnectionsCannotCrowdOutARealRequest) {
  ScriptedRuntime runtime;
  ServerOptions options;
  options.max_connections = 2;
  options.max_pending_heads = 3;
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(options, &runtime);
  ASSERT_TRUE(s.ok()) << s.status();
  const int port = PortOf(**s);
  // More silent connections than both caps together.
  std::vector<int> silent;
  for (int i = 0; i < 6; ++i) {
    int fd = ConnectToLoopback(port);
    ASSERT_GE(fd, 0);
    silent.push_back(fd);
  }
  absl::Cleanup close_silent = [&] {
    for (int fd : silent) close(fd);
  };
  // Each newcomer past the pending cap pushed out the oldest silent one.
  for (int i = 0; i < 3; ++i) {
    std::optional<std::string> answer =
        AnswerUntilClosed(silent[i], absl::Seconds(5));
    ASSERT_TRUE(answer.has_value()) << "silent connection " << i << " kept";
    EXPECT_TRUE(absl::StartsWith(*answer, "HTTP/1.1 503")) << *answer;
  }
  // A real request is served, and so is an exec, with the cap still full
  // of silent connections.
  EXPECT_EQ(AskForNothing(port).substr(0, 12), "HTTP/1.1 404");
  ExecOptions e;
  e.cmd = {"echo"};
  e.stdin = true;
  e.stdout = true;
  CommandClientOptions o;
  o.stdin = "past the crowd";
  o.stderr = false;
  absl::StatusOr<CommandClientResult> r = RunRemoteCommand((*s)->ExecUrl(e), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout, "past the crowd");
}

TEST(ServerLimits, ManyForwardsRunOnOneConnection) {
  ScriptedRuntime runtime;
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start({}, &runtime);
  ASSERT_TRUE(s.ok()) << s.status();
  // A pod port that lets connections in (the backlog) and never answers:
  // each forward stays open.
  int pod = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(pod, 0);
  absl::Cleanup close_pod = [pod] { close(pod); };
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof(a);
  ASSERT_EQ(bind(pod, reinterpret_cast<sockaddr*>(&a), n), 0);
  ASSERT_EQ(listen(pod, 128), 0);
  ASSERT_EQ(getsockname(pod, reinterpret_cast<sockaddr*>(&a), &n), 0);
  absl::StatusOr<std::unique_ptr<SpdyConnection>> c =
      DialSpdy((*s)->PortForwardUrl({"pod1", {}}), {"portforward.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  // More than a browser or a connection pool opens at once; each pair is
  // one local connection of kubectl port-forward.
  constexpr int kForwards = 40;
  std::vector<std::shared_ptr<spdy::Stream>> streams;
  for (int id = 0; id < kForwards; ++id) {
    for (const char* type : {"error", "data"}) {
      absl::StatusOr<std::shared_ptr<spdy::Stream>> stream =
          (*c)->session().Open({{"streamtype", type},
                                {"port", absl::StrCat(ntohs(a.sin_port))},
                                {"requestid", absl::StrCat(id)}},
                               absl::Seconds(5));
      ASSERT_TRUE(stream.ok()) << stream.status();
      streams.push_back(*std::move(stream));
    }
  }
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (runtime.dials < kForwards && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(runtime.dials, kForwards);
}

TEST(ServerLimits, UnpairedForwardStreamsExpire) {
  ScriptedRuntime runtime;
  ServerOptions options;
  options.stream_timeouts.creation = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(options, &runtime);
  ASSERT_TRUE(s.ok()) << s.status();
  EchoServer echo;
  absl::StatusOr<std::unique_ptr<SpdyConnection>> c =
      DialSpdy((*s)->PortForwardUrl({"pod1", {}}), {"portforward.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  // Half pairs the client gives up on, as many as the server keeps (reset
  // together: one by one, each waits out a delayed ACK).
  std::vector<std::shared_ptr<spdy::Stream>> halves;
  for (size_t id = 0; id < spdy::Session::kMaxOpenStreams; ++id) {
    absl::StatusOr<std::shared_ptr<spdy::Stream>> error =
        (*c)->session().Open({{"streamtype", "error"},
                              {"port", absl::StrCat(echo.port())},
                              {"requestid", absl::StrCat(id)}},
                             absl::Seconds(5));
    ASSERT_TRUE(error.ok()) << error.status();
    halves.push_back(*std::move(error));
  }
  for (auto& half : halves) half->Reset();
  absl::SleepFor(absl::Milliseconds(400));
  absl::StatusOr<ForwardResult> r = ForwardOnce(**c, echo.port(), "late", 9999);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data, "echo:late");
  EXPECT_EQ(r->error, "");
}

TEST(ServerLimits, AcceptBacksOffWhileOutOfFdsAndServesWhenTheyReturn) {
  ScriptedRuntime runtime;
  absl::Mutex mu;
  std::vector<absl::Time> emfile;  // when accept failed with EMFILE
  ServerOptions options;
  options.hooks.accept = [&](int listener) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0 && errno == EMFILE) {
      absl::MutexLock lock(&mu);
      emfile.push_back(absl::Now());
      errno = EMFILE;
    }
    return fd;
  };
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(options, &runtime);
  ASSERT_TRUE(s.ok()) << s.status();
  const int port = PortOf(**s);
  ASSERT_EQ(AskForNothing(port).substr(0, 12), "HTTP/1.1 404");

  // Sockets made while descriptors remain; connected once they ran out.
  int late[2] = {socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                 socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  ASSERT_GE(late[0], 0);
  ASSERT_GE(late[1], 0);
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = std::max(late[1], late[0]) + 64;
  std::vector<int> filler;
  // Whatever assertion fails below, later tests get their fds back.
  absl::Cleanup restore = [&] {
    for (int fd : filler) close(fd);
    filler.clear();
    setrlimit(RLIMIT_NOFILE, &saved);
  };
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  // Not dup(0): stdin may be closed under the test runner.
  for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) {
    filler.push_back(fd);
  }
  ASSERT_EQ(errno, EMFILE);

  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // The accept already waiting holds a descriptor for this one; the next
  // accept finds none.
  for (int fd : late) {
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  }
  auto failures = [&] {
    absl::MutexLock lock(&mu);
    return emfile.size();
  };
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (failures() < 4 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  size_t seen = failures();
  std::move(restore).Invoke();
  ASSERT_GE(seen, 4u) << "accept never ran out of descriptors";
  {
    absl::MutexLock lock(&mu);
    for (size_t i = 1; i < seen; ++i) {
      EXPECT_GE(emfile[i] - emfile[i - 1], absl::Milliseconds(90))
          << "accept retried at once after EMFILE (failure " << i << ")";
    }
  }
  // Both connections are served once descriptors are back.
  for (int fd : late) {
    ASSERT_TRUE(WriteAll(fd, "GET /exec/none HTTP/1.1\r\n\r\n"));
    std::optional<std::string> answer = AnswerUntilClosed(fd, absl::Seconds(5));
    close(fd);
    ASSERT_TRUE(answer.has_value());
    EXPECT_TRUE(absl::StartsWith(*answer, "HTTP/1.1 404")) << *answer;
  }
}

TEST(ServerLimits, AThreadThatCannotStartCostsOnlyItsConnection) {
  ScriptedRuntime runtime;
  std::atomic<int> starts{0};
  ServerOptions options;
  // std::thread throws either.
  options.hooks.start_thread = [&](std::function<void()> work) {
    int start = starts++;
    if (start == 0) {
      throw std::system_error(EAGAIN, std::generic_category(),
                              "pthread_create");
    }
    if (start == 1) throw std::bad_alloc();
    std::thread(std::move(work)).detach();
  };
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(options, &runtime);
  ASSERT_TRUE(s.ok()) << s.status();
  const int port = PortOf(**s);
  for (int i = 0; i < 2; ++i) {
    int fd = ConnectToLoopback(port);
    ASSERT_GE(fd, 0);
    std::optional<std::string> refused =
        AnswerUntilClosed(fd, absl::Seconds(5));
    close(fd);
    ASSERT_TRUE(refused.has_value());
    EXPECT_TRUE(absl::StartsWith(*refused, "HTTP/1.1 503")) << *refused;
  }
  // The server is alive and its slot was given back.
  EXPECT_EQ(AskForNothing(port).substr(0, 12), "HTTP/1.1 404");
}

TEST(ServerLimits, AnExecClientThatOpensNoStreamsIsDropped) {
  ScriptedRuntime runtime;
  ServerOptions options;
  options.stream_timeouts.creation = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(options, &runtime);
  ASSERT_TRUE(s.ok()) << s.status();
  ExecOptions e;
  e.cmd = {"echo"};
  e.stdout = true;
  absl::StatusOr<std::unique_ptr<SpdyConnection>> c =
      DialSpdy((*s)->ExecUrl(e), {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!(*c)->session().ended() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE((*c)->session().ended());
}

TEST(ServerLimits, AnIdlePortForwardConnectionIsClosed) {
  ScriptedRuntime runtime;
  ServerOptions options;
  options.stream_timeouts.idle = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(options, &runtime);
  ASSERT_TRUE(s.ok()) << s.status();
  // Upgraded, and then nothing: no stream is ever opened.
  absl::StatusOr<std::unique_ptr<SpdyConnection>> c =
      DialSpdy((*s)->PortForwardUrl({"pod1", {}}), {"portforward.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!(*c)->session().ended() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE((*c)->session().ended());
}

TEST(CommandResultMessage, SurvivesErrorsThatAreNotUtf8) {
  CommandRequest request;
  request.exec.cmd = {"sh"};
  std::string message = CommandResultMessage(
      kStreamProtocolV4, request,
      absl::InternalError("runc said \xff\xfe and died"));
  EXPECT_TRUE(absl::StrContains(message, "runc said")) << message;
  EXPECT_TRUE(absl::StrContains(message, "InternalError")) << message;
}

TEST(ParseTerminalSize, RefusesWhatIsNotASmallWholeNumber) {
  TerminalSize size;
  EXPECT_TRUE(ParseTerminalSize(R"({"Width":80,"Height":24})", &size));
  EXPECT_EQ(size.width, 80);
  EXPECT_EQ(size.height, 24);
  // A string once threw out of the resize thread and ended the daemon.
  EXPECT_FALSE(ParseTerminalSize(R"({"Width":"80","Height":24})", &size));
  EXPECT_FALSE(ParseTerminalSize(R"({"Width":4294967297,"Height":24})", &size));
  EXPECT_FALSE(ParseTerminalSize(R"({"Width":80.5,"Height":24})", &size));
  EXPECT_FALSE(ParseTerminalSize(R"([80,24])", &size));
  EXPECT_FALSE(ParseTerminalSize("not json", &size));
}

}  // namespace
}  // namespace cradle::streaming
