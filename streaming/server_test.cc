// The streaming server against a scripted runtime: the wire protocols,
// tokens and error paths. The real runtime is exercised in e2e tests.
#include "streaming/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

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
    if (pod_id != "pod1") return absl::NotFoundError("no such pod");
    int fd = ConnectToLoopback(port);
    if (fd < 0) return absl::UnavailableError("connection refused");
    return fd;
  }

  std::atomic<bool> cancelled{false};
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
  // Send nothing: the server answers 400 and hangs up on its own.
  std::string answer;
  char buf[512];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) answer.append(buf, n);
  close(fd);
  EXPECT_TRUE(absl::StartsWith(answer, "HTTP/1.1 400")) << answer;
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
