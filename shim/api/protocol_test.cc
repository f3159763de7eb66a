#include "shim/api/protocol.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace cradle::shim {
namespace {

class SocketPair : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0);
  }
  void TearDown() override {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  int fds_[2] = {-1, -1};
};

TEST_F(SocketPair, FramesKeepTypeAndBytes) {
  std::string binary("a\0b\xff", 4);
  ASSERT_TRUE(WriteFrame(fds_[0], FrameType::kStdout, binary).ok());
  ASSERT_TRUE(WriteFrame(fds_[0], FrameType::kCloseStdin, "").ok());
  lite::StatusOr<Frame> first = ReadFrame(fds_[1]);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->type, FrameType::kStdout);
  EXPECT_EQ(first->payload, binary);
  lite::StatusOr<Frame> second = ReadFrame(fds_[1]);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->type, FrameType::kCloseStdin);
  EXPECT_EQ(second->payload, "");
}

TEST_F(SocketPair, EndOfStreamIsUnavailable) {
  close(fds_[0]);
  fds_[0] = -1;
  lite::StatusOr<Frame> f = ReadFrame(fds_[1]);
  EXPECT_EQ(f.status().code(), lite::StatusCode::kUnavailable);
}

TEST_F(SocketPair, WritingToAGonePeerIsUnavailableNotSigpipe) {
  close(fds_[1]);
  fds_[1] = -1;
  lite::Status s = WriteFrame(fds_[0], FrameType::kStdin, "x");
  EXPECT_EQ(s.code(), lite::StatusCode::kUnavailable);
}

TEST_F(SocketPair, OversizedFramesAreRefusedBeforeAllocating) {
  // A header claiming 1 GiB.
  const char header[5] = {0x40, 0, 0, 0, 7};
  ASSERT_EQ(write(fds_[0], header, 5), 5);
  lite::StatusOr<Frame> f = ReadFrame(fds_[1]);
  EXPECT_EQ(f.status().code(), lite::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteFrame(fds_[0], FrameType::kStdin,
                       std::string(kMaxFramePayload + 1, 'x'))
                .code(),
            lite::StatusCode::kInvalidArgument);
}

TEST(Replies, CarryStatusOrResult) {
  lite::StatusOr<nlohmann::json> ok =
      DecodeReply(EncodeReply(lite::OkStatus(), {{"pid", 42}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)["pid"], 42);
  lite::StatusOr<nlohmann::json> empty = DecodeReply(EncodeReply({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->is_object());
  lite::StatusOr<nlohmann::json> err =
      DecodeReply(EncodeReply(lite::FailedPreconditionError("c1 is running")));
  EXPECT_EQ(err.status().code(), lite::StatusCode::kFailedPrecondition);
  EXPECT_EQ(err.status().message(), "c1 is running");
  EXPECT_EQ(DecodeReply("[1]").status().code(), lite::StatusCode::kInternal);
}

TEST(Messages, RoundTripThroughJson) {
  ContainerState s;
  s.id = "c1";
  s.pid = 7;
  s.status = ContainerStatus::kStopped;
  s.exit_code = 137;
  s.exited_at = 1764057600123456789;
  s.oom_killed = true;
  s.log_path = "/var/log/pods/x/0.log";
  nlohmann::json j = s;
  EXPECT_EQ(j["status"], "STOPPED");
  lite::StatusOr<ContainerState> back =
      Decode<ContainerState>(j.dump(), "state");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->id, "c1");
  EXPECT_EQ(back->status, ContainerStatus::kStopped);
  EXPECT_EQ(back->exit_code, 137);
  EXPECT_EQ(back->exited_at, 1764057600123456789);
  EXPECT_TRUE(back->oom_killed);
  EXPECT_EQ(back->log_path, s.log_path);

  ExecStart e{"c1", {"sh", "-c", "echo hi"}, true, false};
  lite::StatusOr<ExecStart> e2 =
      Decode<ExecStart>(nlohmann::json(e).dump(), "exec");
  ASSERT_TRUE(e2.ok());
  EXPECT_EQ(e2->args, e.args);
  EXPECT_TRUE(e2->tty);

  CreateRequest c;
  c.id = "t1";
  c.stdout_path = "/run/containerd/fifo/1/t1-stdout";
  lite::StatusOr<CreateRequest> c2 =
      Decode<CreateRequest>(nlohmann::json(c).dump(), "create");
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->stdout_path, c.stdout_path);
  EXPECT_EQ(c2->stdin_path, "");

  ProcessStart p{"t1", "e1", R"({"args":["echo"]})", false, "/i", "/o", "/e"};
  lite::StatusOr<ProcessStart> p2 =
      Decode<ProcessStart>(nlohmann::json(p).dump(), "process");
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->exec_id, "e1");
  EXPECT_EQ(p2->process, p.process);
  EXPECT_EQ(p2->stderr_path, "/e");
}

TEST(Messages, BadJsonIsInvalidArgument) {
  EXPECT_EQ(Decode<CreateRequest>("{", "create").status().code(),
            lite::StatusCode::kInvalidArgument);
  lite::StatusOr<CreateRequest> wrong_type =
      Decode<CreateRequest>(R"({"id": 5})", "create");
  EXPECT_EQ(wrong_type.status().code(), lite::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong_type.status().message().find("create"), std::string::npos);
}

// nlohmann converts a float to an int by a plain cast, undefined when the
// float is out of range (found by //shim/api:protocol_fuzz with an exitedAt
// past 2^64). An integer field takes integers that fit, nothing else.
TEST(Messages, IntegerFieldsTakeOnlyIntegersThatFit) {
  for (const char* text :
       {R"({"id":"c","exitedAt":1700000000000000000000000000})",
        R"({"id":"c","pid":1.5})", R"({"id":"c","pid":4294967296})",
        R"({"id":"c","exitCode":-2147483649})"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(Decode<ExitEvent>(text, "event").status().code(),
              lite::StatusCode::kInvalidArgument);
    EXPECT_EQ(Decode<ContainerState>(text, "state").status().code(),
              lite::StatusCode::kInvalidArgument);
  }
  lite::StatusOr<ExitEvent> fits = Decode<ExitEvent>(
      R"({"pid":2147483647,"exitCode":-1,"exitedAt":9223372036854775807})",
      "event");
  ASSERT_TRUE(fits.ok()) << fits.status().message();
  EXPECT_EQ(fits->pid, 2147483647);
  EXPECT_EQ(fits->exit_code, -1);
  EXPECT_EQ(fits->exited_at, INT64_MAX);
}

TEST(Messages, IntegerArgumentsFallBackOnlyWhenAbsent) {
  nlohmann::json args = nlohmann::json::parse(
      R"({"signal":9,"width":1e30,"height":-1,"big":18446744073709551615})");
  EXPECT_EQ(IntegerOr(args, "signal", 0), 9);
  EXPECT_EQ(IntegerOr(args, "absent", 15), 15);
  EXPECT_THROW(IntegerOr(args, "width", 0u), nlohmann::json::exception);
  EXPECT_THROW(IntegerOr(args, "height", 0u), nlohmann::json::exception);
  EXPECT_THROW(IntegerOr(args, "big", int64_t{0}), nlohmann::json::exception);
  EXPECT_EQ(IntegerOr(args, "big", uint64_t{0}), UINT64_MAX);
}

TEST(Messages, RepliesNeverThrowWhateverTheirBytes) {
  // runc's messages may carry bytes that are not UTF-8.
  std::string encoded;
  ASSERT_NO_THROW(encoded = EncodeReply(
                      lite::InvalidArgumentError("no such file \xff\xfe")));
  lite::StatusOr<nlohmann::json> back = DecodeReply(encoded);
  EXPECT_EQ(back.status().code(), lite::StatusCode::kInvalidArgument);
  EXPECT_NE(back.status().message().find("no such file"), std::string::npos);
  // A peer's malformed reply is an error, not an exception.
  lite::StatusOr<nlohmann::json> odd = lite::InternalError("unset");
  ASSERT_NO_THROW(odd = DecodeReply(R"({"code":5,"message":7})"));
  EXPECT_EQ(odd.status().code(), lite::StatusCode::kNotFound);
  ASSERT_NO_THROW(odd = DecodeReply(R"({"code":4000000000})"));
  EXPECT_EQ(odd.status().code(), lite::StatusCode::kInternal);
}

}  // namespace
}  // namespace cradle::shim
