// Exec, Attach and PortForward through cradled's streaming server, with the
// project's SPDY client: real cradled, shim, runc, CNI and busybox.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "e2e/harness/pod_test.h"
#include "streaming/testing/stream_client.h"

namespace cradle::e2e {
namespace {

using streaming::CommandClientOptions;
using streaming::CommandClientResult;
using streaming::ExitCodeOf;
using ::testing::HasSubstr;

class StreamingTest : public PodTest {
 protected:
  StreamingTest() : PodTest(80) {}

  grpc::Status ExecUrl(const std::string& id, std::vector<std::string> cmd,
                       bool tty, bool stdin, std::string* url) {
    grpc::ClientContext ctx;
    v1::ExecRequest req;
    req.set_container_id(id);
    for (const std::string& a : cmd) req.add_cmd(a);
    req.set_tty(tty);
    req.set_stdin(stdin);
    req.set_stdout(true);
    req.set_stderr(!tty);
    v1::ExecResponse resp;
    grpc::Status s = daemon().runtime().Exec(&ctx, req, &resp);
    *url = resp.url();
    return s;
  }

  CommandClientResult Run(const std::string& id, std::vector<std::string> cmd,
                          std::optional<std::string> stdin = std::nullopt,
                          bool tty = false,
                          std::vector<streaming::TerminalSize> sizes = {}) {
    std::string url;
    grpc::Status s = ExecUrl(id, cmd, tty, stdin.has_value(), &url);
    EXPECT_TRUE(s.ok()) << s.error_message();
    CommandClientOptions o;
    o.stdin = stdin;
    o.tty = tty;
    o.resizes = sizes;
    absl::StatusOr<CommandClientResult> r = streaming::RunRemoteCommand(url, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandClientResult();
  }

  // Host processes whose command line is exactly `command`.
  static int CountProcesses(const std::string& command) {
    int count = 0;
    for (const HostProcess& p : HostProcesses())
      count += p.command_line == command;
    return count;
  }
};

TEST_F(StreamingTest, ExecWithoutTtyCarriesStdinOutputAndExitCodes) {
  std::string pod = RunPod("exec");
  std::string c = RunContainer(pod, Config("main", {"sleep", "1000"}));

  CommandClientResult r = Run(c, {"cat"}, std::string("through stdin\n"));
  EXPECT_EQ(r.stdout, "through stdin\n");
  EXPECT_EQ(ExitCodeOf(r.error), 0) << r.error;

  r = Run(c, {"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.stdout, "out\n");
  EXPECT_EQ(r.stderr, "err\n");
  EXPECT_EQ(ExitCodeOf(r.error), 3) << r.error;

  // 1 MiB each way: more than any buffer on the path.
  std::string big(1 << 20, 'z');
  r = Run(c, {"sh", "-c", "cat | wc -c"}, big);
  EXPECT_EQ(r.stdout, absl::StrCat(big.size(), "\n"));

  r = Run(c, {"/no/such/binary"});
  EXPECT_NE(ExitCodeOf(r.error), 0) << r.error;
  EXPECT_THAT(r.error, HasSubstr("no/such/binary"));
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(StreamingTest, ExecWithTtyGetsATerminalOfTheClientsSize) {
  std::string pod = RunPod("tty");
  std::string c = RunContainer(pod, Config("main", {"sleep", "1000"}));
  // Waits for the size to arrive rather than racing it.
  CommandClientResult r =
      Run(c,
          {"sh", "-c",
           "read go; while [ \"$(stty size)\" = \"0 0\" ]; do sleep 0.1; done; "
           "stty size; tty; exit 4"},
          std::string("go\n"), /*tty=*/true, {{100, 33}});
  EXPECT_THAT(r.stdout, HasSubstr("33 100\r\n"));
  EXPECT_THAT(r.stdout, HasSubstr("/dev/pts/"));
  EXPECT_EQ(ExitCodeOf(r.error), 4) << r.error;
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(StreamingTest, AttachReachesTheContainersStdio) {
  std::string pod = RunPod("attach");
  v1::ContainerConfig config =
      Config("main", {"sh", "-c", "read line; echo got:$line; echo bye >&2"});
  config.set_stdin(true);
  config.set_stdin_once(true);
  std::string c = RunContainer(pod, config);

  grpc::ClientContext ctx;
  v1::AttachRequest req;
  req.set_container_id(c);
  req.set_stdin(true);
  req.set_stdout(true);
  req.set_stderr(true);
  v1::AttachResponse resp;
  ASSERT_TRUE(daemon().runtime().Attach(&ctx, req, &resp).ok());
  CommandClientOptions o;
  o.stdin = "hello\n";
  absl::StatusOr<CommandClientResult> r =
      streaming::RunRemoteCommand(resp.url(), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout, "got:hello\n");
  EXPECT_EQ(r->stderr, "bye\n");
  EXPECT_EQ(ExitCodeOf(r->error), 0) << r->error;
  EXPECT_EQ(WaitExited(c).exit_code(), 0);

  // Without stdin_once, the end of the client's stdin detaches it and the
  // container keeps running.
  v1::ContainerConfig keeps = Config("keeps", {"cat"});
  keeps.set_stdin(true);
  std::string k = RunContainer(pod, keeps);
  grpc::ClientContext ctx2;
  req.set_container_id(k);
  ASSERT_TRUE(daemon().runtime().Attach(&ctx2, req, &resp).ok());
  r = streaming::RunRemoteCommand(resp.url(), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ExitCodeOf(r->error), 0) << r->error;
  v1::ContainerStatus st;
  ASSERT_TRUE(Status(k, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_RUNNING);
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(StreamingTest, PortForwardReachesAPortServedInsideThePod) {
  std::string pod = RunPod("web");
  RunContainer(pod, Config("srv", {"sh", "-c",
                                   "while true; do echo pong | nc -l -p 8080; "
                                   "done"}));
  grpc::ClientContext ctx;
  v1::PortForwardRequest req;
  req.set_pod_sandbox_id(pod);
  req.add_port(8080);
  v1::PortForwardResponse resp;
  ASSERT_TRUE(daemon().runtime().PortForward(&ctx, req, &resp).ok());
  absl::StatusOr<std::unique_ptr<streaming::SpdyConnection>> conn =
      streaming::DialSpdy(resp.url(), {"portforward.k8s.io"});
  ASSERT_TRUE(conn.ok()) << conn.status();
  // The server starts in the background: retry until it listens.
  streaming::ForwardResult f;
  for (int i = 0; i < 50 && f.data.empty(); ++i) {
    absl::StatusOr<streaming::ForwardResult> r =
        streaming::ForwardOnce(**conn, 8080, "ping\n", i);
    ASSERT_TRUE(r.ok()) << r.status();
    f = *r;
    if (f.data.empty()) usleep(100 * 1000);
  }
  EXPECT_EQ(f.data, "pong\n");
  EXPECT_EQ(f.error, "");

  // A port nobody serves answers on the error stream, naming the port.
  absl::StatusOr<std::unique_ptr<streaming::SpdyConnection>> other;
  {
    grpc::ClientContext ctx2;
    req.clear_port();
    ASSERT_TRUE(daemon().runtime().PortForward(&ctx2, req, &resp).ok());
    other = streaming::DialSpdy(resp.url(), {"portforward.k8s.io"});
    ASSERT_TRUE(other.ok()) << other.status();
  }
  absl::StatusOr<streaming::ForwardResult> r =
      streaming::ForwardOnce(**other, 9, "x", 1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->error, HasSubstr("localhost:9"));
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(StreamingTest, BadRequestsGetClearAnswers) {
  std::string pod = RunPod("bad");
  std::string c = RunContainer(pod, Config("main", {"sleep", "1000"}));
  std::string url;
  EXPECT_EQ(ExecUrl(c, {}, false, false, &url).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ExecUrl("nope", {"true"}, false, false, &url).error_code(),
            grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext ctx;
    v1::ExecRequest req;
    req.set_container_id(c);
    req.add_cmd("sh");
    req.set_tty(true);
    req.set_stderr(true);
    v1::ExecResponse resp;
    grpc::Status s = daemon().runtime().Exec(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("tty and stderr"));
  }
  {
    grpc::ClientContext ctx;
    v1::PortForwardRequest req;
    req.set_pod_sandbox_id("nope");
    v1::PortForwardResponse resp;
    EXPECT_EQ(daemon().runtime().PortForward(&ctx, req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  // A used token is refused.
  ASSERT_TRUE(ExecUrl(c, {"true"}, false, false, &url).ok());
  CommandClientOptions o;
  ASSERT_TRUE(streaming::RunRemoteCommand(url, o).ok());
  streaming::HttpAnswer answer;
  EXPECT_FALSE(streaming::DialSpdy(url, {"v4.channel.k8s.io"}, &answer).ok());
  EXPECT_EQ(answer.code, 404);

  // Exec on a container that is not running.
  ASSERT_TRUE(StopC(c, 0).ok());
  EXPECT_EQ(ExecUrl(c, {"true"}, false, false, &url).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(StreamingTest, AClientThatVanishesLeavesNoProcessBehind) {
  std::string pod = RunPod("gone");
  std::string c = RunContainer(pod, Config("main", {"sleep", "1000"}));
  std::string url;
  ASSERT_TRUE(ExecUrl(c, {"sleep", "4242"}, false, true, &url).ok());
  {
    absl::StatusOr<std::unique_ptr<streaming::SpdyConnection>> conn =
        streaming::DialSpdy(url, {"v4.channel.k8s.io"});
    ASSERT_TRUE(conn.ok()) << conn.status();
    for (const char* type : {"error", "stdin", "stdout", "stderr"}) {
      ASSERT_TRUE((*conn)
                      ->session()
                      .Open({{"streamtype", type}}, absl::Seconds(10))
                      .ok());
    }
    for (int i = 0; i < 100 && CountProcesses("sleep 4242") == 0; ++i) {
      usleep(50 * 1000);
    }
    ASSERT_EQ(CountProcesses("sleep 4242"), 1);
  }  // the connection drops here
  for (int i = 0; i < 100 && CountProcesses("sleep 4242") > 0; ++i) {
    usleep(50 * 1000);
  }
  EXPECT_EQ(CountProcesses("sleep 4242"), 0);
  ASSERT_TRUE(RemovePod(pod).ok());
}

}  // namespace
}  // namespace cradle::e2e
