#include "lite/status.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "lite/absl_status.h"
#include "lite/files.h"

namespace cradle::lite {
namespace {

TEST(LiteStatusTest, CodesAndMessages) {
  EXPECT_TRUE(OkStatus().ok());
  Status s = NotFoundError("container x not found");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: container x not found");
  EXPECT_TRUE(IsNotFound(s));
  EXPECT_EQ(Status(StatusCode::kOk, "ignored").message(), "");
}

TEST(LiteStatusTest, StatusOrHoldsAValueOrAnError) {
  StatusOr<std::unique_ptr<int>> v = std::make_unique<int>(7);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(**v, 7);
  StatusOr<int> e = FailedPreconditionError("not running");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "not running");
  // An OK status is no value: it becomes an internal error.
  StatusOr<int> wrong = OkStatus();
  EXPECT_EQ(wrong.status().code(), StatusCode::kInternal);
  EXPECT_DEATH((void)*e, "FAILED_PRECONDITION: not running");
}

TEST(LiteStatusTest, StrCatJoinsStringsAndNumbers) {
  EXPECT_EQ(StrCat("pid ", 42, ", code ", -1, ' ', std::string("x")),
            "pid 42, code -1 x");
}

TEST(LiteStatusTest, CodesMatchAbslOnTheWayOver) {
  absl::Status a = ToAbsl(AlreadyExistsError("c1 exists"));
  EXPECT_EQ(a.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(a.message(), "c1 exists");
  absl::StatusOr<int> b = ToAbsl(StatusOr<int>(UnavailableError("gone")));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
  absl::StatusOr<int> c = ToAbsl(StatusOr<int>(3));
  EXPECT_EQ(*c, 3);
  for (int code = 0; code <= 16; ++code) {
    EXPECT_EQ(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)),
              StatusCodeName(static_cast<StatusCode>(code)));
  }
}

TEST(LiteFilesTest, MakeDirsAndReadBack) {
  char tmpl[] = "/tmp/lite-files-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string deep = std::string(tmpl) + "/a/b/c";
  EXPECT_EQ(MakeDirs(deep), 0);
  EXPECT_EQ(MakeDirs(deep), 0);  // already there: fine
  std::string file = deep + "/f";
  FILE* f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("hello", f);
  fclose(f);
  EXPECT_EQ(ReadFileOrEmpty(file), "hello");
  EXPECT_EQ(ReadFileOrEmpty(deep + "/missing"), "");
  // A file where a directory should be.
  EXPECT_EQ(MakeDirs(file + "/x"), ENOTDIR);
  std::string rm = std::string("rm -rf ") + tmpl;
  ASSERT_EQ(system(rm.c_str()), 0);
}

TEST(LiteFilesTest, WriteAndSendFully) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  EXPECT_TRUE(WriteFully(pipe_fds[1], "through a pipe"));
  char buf[64] = {};
  EXPECT_EQ(read(pipe_fds[0], buf, sizeof(buf)), 14);
  EXPECT_STREQ(buf, "through a pipe");
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  EXPECT_TRUE(SendFully(pair[0], "hi"));
  close(pair[1]);
  // A gone peer is an error return, not a SIGPIPE that ends the test.
  EXPECT_FALSE(SendFully(pair[0], "x"));
  EXPECT_EQ(errno, EPIPE);
  close(pair[0]);
}

}  // namespace
}  // namespace cradle::lite
