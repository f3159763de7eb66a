// cradled over its real socket: Version, Status, named UNIMPLEMENTED
// answers, the socket's ownership rules and shutdown.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>

#include "e2e/harness/daemon.h"
#include "process/process.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;

class VersionStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start();
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
  }
  void TearDown() override {
    if (HasFailure() && daemon_)
      std::cerr << "cradled log:\n" << daemon_->Log();
  }
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(VersionStatusTest, VersionNamesCradleAndCriV1) {
  grpc::ClientContext ctx;
  runtime::v1::VersionRequest request;
  request.set_version("0.1.0");
  runtime::v1::VersionResponse response;
  ASSERT_TRUE(daemon_->runtime().Version(&ctx, request, &response).ok());
  EXPECT_EQ(response.runtime_name(), "cradle");
  EXPECT_EQ(response.runtime_api_version(), "v1");
  EXPECT_EQ(response.version(), "0.1.0");
  EXPECT_FALSE(response.runtime_version().empty());
}

TEST_F(VersionStatusTest, StatusReportsBothConditionsAndVerboseConfig) {
  grpc::ClientContext ctx;
  runtime::v1::StatusRequest request;
  request.set_verbose(true);
  runtime::v1::StatusResponse response;
  ASSERT_TRUE(daemon_->runtime().Status(&ctx, request, &response).ok());
  std::map<std::string, runtime::v1::RuntimeCondition> conditions;
  for (const auto& c : response.status().conditions()) conditions[c.type()] = c;
  ASSERT_EQ(conditions.count("RuntimeReady"), 1u);
  ASSERT_EQ(conditions.count("NetworkReady"), 1u);
  for (const auto& [type, c] : conditions) {
    // A condition that is not met must say why.
    if (!c.status()) {
      EXPECT_FALSE(c.reason().empty()) << type;
      EXPECT_FALSE(c.message().empty()) << type;
    }
  }
  ASSERT_EQ(response.info().count("config"), 1u);
  EXPECT_THAT(response.info().at("config"), HasSubstr(daemon_->socket()));
}

TEST_F(VersionStatusTest, SocketIsGroupOnlyAndASecondDaemonIsRefused) {
  struct stat st;
  ASSERT_EQ(stat(daemon_->socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660);

  SpawnOptions second;
  second.argv = {CradledPath(), "--config", daemon_->dir() + "/config.toml"};
  absl::StatusOr<RunResult> run = RunAndCapture(second, "", absl::Seconds(20));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_NE(run->status.exit_code, 0);
  EXPECT_THAT(run->err, HasSubstr("already serving " + daemon_->socket()));

  grpc::ClientContext ctx;
  runtime::v1::VersionResponse response;
  EXPECT_TRUE(daemon_->runtime().Version(&ctx, {}, &response).ok())
      << "first daemon died";
}

TEST_F(VersionStatusTest,
       CleanShutdownRemovesTheSocketAndACrashLeavesOneToReplace) {
  ASSERT_TRUE(daemon_->Stop(SIGTERM).ok());
  EXPECT_FALSE(std::filesystem::exists(daemon_->socket()));
  ASSERT_TRUE(daemon_->Restart().ok());
  ASSERT_TRUE(daemon_->Stop(SIGKILL).ok());
  EXPECT_TRUE(std::filesystem::exists(daemon_->socket()));  // stale
  ASSERT_TRUE(daemon_->Restart().ok()) << "a stale socket must be replaced";
  grpc::ClientContext ctx;
  runtime::v1::VersionResponse response;
  EXPECT_TRUE(daemon_->runtime().Version(&ctx, {}, &response).ok());
}

TEST(ConfigErrorTest, BadConfigStopsStartWithFileLineAndKey) {
  char tmpl[] = "/tmp/cradle-e2e-cfg-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/config.toml";
  FILE* f = fopen(path.c_str(), "w");
  fputs("root = \"/tmp/x\"\n[images]\nsnapshoter = \"overlayfs\"\n", f);
  fclose(f);
  absl::StatusOr<RunResult> run = RunAndCapture(
      SpawnOptions{{CradledPath(), "--config", path}}, "", absl::Seconds(20));
  std::filesystem::remove_all(tmpl);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status.exit_code, 1);
  EXPECT_THAT(run->err, HasSubstr(path + ":3:"));
  EXPECT_THAT(run->err, HasSubstr("unknown key \"images.snapshoter\""));
}

TEST(ConfigDefaultTest, PrintsTheEmbeddedDefault) {
  absl::StatusOr<RunResult> run =
      RunAndCapture(SpawnOptions{{CradledPath(), "config", "default"}});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status.exit_code, 0);
  EXPECT_THAT(run->out, HasSubstr("root = \"/var/lib/cradle\""));
  EXPECT_THAT(run->out, HasSubstr("address = \"/run/cradle/cradle.sock\""));
}

}  // namespace
}  // namespace cradle::e2e
