// Drives the real runc with a busybox bundle (needs root: tagged local).
#include "runc_driver/runc.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "process/process.h"
#include "runc_driver/spec/spec.h"

namespace cradle {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class RuncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-runc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    RuncOptions options;
    options.root = dir_ + "/state";
    options.log_dir = dir_ + "/logs";
    lite::StatusOr<std::unique_ptr<Runc>> runc = Runc::New(options);
    ASSERT_TRUE(runc.ok()) << runc.status().ToString();
    runc_ = *std::move(runc);
  }

  void TearDown() override {
    for (const std::string& id : ids_) (void)runc_->Delete(id, /*force=*/true);
    fs::remove_all(dir_);
  }

  // A bundle whose rootfs is busybox-static with its applets.
  std::string Bundle(const std::string& id, std::vector<std::string> args) {
    std::string bundle = dir_ + "/" + id;
    fs::create_directories(bundle + "/rootfs/bin");
    fs::copy_file("/bin/busybox", bundle + "/rootfs/bin/busybox");
    absl::StatusOr<RunResult> applets =
        RunAndCapture(SpawnOptions{{"/bin/busybox", "--list"}});
    EXPECT_TRUE(applets.ok());
    // Relative links: the rootfs must not point at the host's busybox.
    for (absl::string_view applet :
         absl::StrSplit(applets->out, '\n', absl::SkipEmpty())) {
      std::error_code ec;
      fs::create_symlink("busybox",
                         absl::StrCat(bundle, "/rootfs/bin/", applet), ec);
    }
    SpawnOptions spec{{"runc", "spec"}};
    spec.cwd = bundle;
    EXPECT_TRUE(RunAndCapture(spec).ok());
    std::ifstream in(bundle + "/config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    config["process"]["terminal"] = false;
    config["process"]["args"] = args;
    config["root"]["readonly"] = false;
    std::ofstream(bundle + "/config.json") << config.dump();
    ids_.push_back(id);
    return bundle;
  }

  std::string dir_;
  std::unique_ptr<Runc> runc_;
  std::vector<std::string> ids_;
};

TEST_F(RuncTest, LifecycleOfARealContainer) {
  std::string id = "life" + std::to_string(getpid());
  std::string bundle = Bundle(id, {"sh", "-c", "echo hello; exec sleep 300"});
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  RuncCreateOptions create;
  create.bundle = bundle;
  create.pid_file = bundle + "/init.pid";
  create.stdio.out = out[1];
  lite::Status created = runc_->Create(id, create);
  ASSERT_TRUE(created.ok()) << created.ToString();
  close(out[1]);

  lite::StatusOr<RuncState> state = runc_->State(id);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->status, "created");
  EXPECT_GT(state->pid, 0);
  EXPECT_EQ(state->bundle, bundle);

  ASSERT_TRUE(runc_->Start(id).ok());
  char buf[16] = {};
  ASSERT_EQ(read(out[0], buf, 6), 6);
  close(out[0]);
  EXPECT_STREQ(buf, "hello\n");
  EXPECT_EQ(runc_->State(id)->status, "running");

  lite::StatusOr<std::vector<pid_t>> pids = runc_->Ps(id);
  ASSERT_TRUE(pids.ok()) << pids.status().ToString();
  EXPECT_THAT(*pids, ::testing::Contains(state->pid));

  // An attached exec reports its own exit code.
  std::string process = bundle + "/exec.json";
  std::ofstream(process)
      << R"({"args":["sh","-c","exit 7"],"cwd":"/","env":["PATH=/bin"],)"
         R"("user":{"uid":0,"gid":0}})";
  RuncExecOptions exec;
  exec.process_json = process;
  exec.detach = false;
  lite::StatusOr<int> code = runc_->Exec(id, exec);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 7);

  ASSERT_TRUE(runc_->Pause(id).ok());
  EXPECT_EQ(runc_->State(id)->status, "paused");
  ASSERT_TRUE(runc_->Resume(id).ok());
  EXPECT_EQ(runc_->State(id)->status, "running");

  lite::StatusOr<std::string> stats = runc_->Stats(id);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_THAT(*stats, HasSubstr("\"type\":\"stats\""));

  ASSERT_TRUE(runc_->Update(id, R"({"pids":{"limit":100}})").ok());

  ASSERT_TRUE(runc_->Kill(id, SIGKILL).ok());
  for (int i = 0; i < 100 && runc_->State(id)->status != "stopped"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(runc_->State(id)->status, "stopped");
  ASSERT_TRUE(runc_->Delete(id).ok());
  EXPECT_EQ(runc_->State(id).status().code(), lite::StatusCode::kNotFound);
}

TEST_F(RuncTest, MissingEntrypointIsReportedWithRuncsMessage) {
  std::string id = "noent" + std::to_string(getpid());
  std::string bundle = Bundle(id, {"/no/such/binary"});
  RuncCreateOptions create;
  create.bundle = bundle;
  lite::Status s = runc_->Create(id, create);
  if (s.ok()) s = runc_->Start(id);  // some runc versions fail only at start
  EXPECT_EQ(s.code(), lite::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("/no/such/binary"));
}

TEST_F(RuncTest, UnknownContainerIsNotFound) {
  EXPECT_EQ(runc_->State("nope").status().code(), lite::StatusCode::kNotFound);
  EXPECT_EQ(runc_->Kill("nope", SIGTERM).code(), lite::StatusCode::kNotFound);
  EXPECT_EQ(runc_->Delete("nope").code(), lite::StatusCode::kNotFound);
}

TEST_F(RuncTest, SpecBuilderOutputRunsWithTheDefaultSeccompProfile) {
  std::string id = "spec" + std::to_string(getpid());
  std::string bundle = Bundle(id, {"true"});
  spec::ContainerSpecInput in;
  in.args = {"sh", "-c", "echo uid=$(id -u) caps-ok"};
  in.rootfs = bundle + "/rootfs";
  in.namespaces.network = "";
  in.namespaces.ipc = "";
  in.namespaces.uts = "";
  in.namespaces.pid = "";
  in.hostname = "spec-test";
  in.security.seccomp = spec::SeccompMode::kRuntimeDefault;
  in.security.no_new_privs = true;
  absl::StatusOr<std::string> config = spec::BuildSpec(in);
  ASSERT_TRUE(config.ok()) << config.status();
  std::ofstream(bundle + "/config.json") << *config;
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  RuncCreateOptions create;
  create.bundle = bundle;
  create.stdio.out = out[1];
  create.stdio.err = out[1];
  lite::Status created = runc_->Create(id, create);
  close(out[1]);
  ASSERT_TRUE(created.ok()) << created.ToString();
  ASSERT_TRUE(runc_->Start(id).ok());
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) text.append(buf, n);
  close(out[0]);
  EXPECT_EQ(text, "uid=0 caps-ok\n");
}

TEST(RuncLogTest, ExtractsErrorMessages) {
  EXPECT_EQ(
      RuncErrorFromLog(
          R"({"level":"info","msg":"ok","time":"t"})"
          "\n"
          R"({"level":"error","msg":"exec: \"x\": executable file not found","time":"t"})"
          "\n"),
      "exec: \"x\": executable file not found");
  EXPECT_EQ(RuncErrorFromLog(""), "");
}

TEST(BundleTest, CgroupsPathComesFromConfigJson) {
  char tmpl[] = "/tmp/runc-bundle-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string bundle = tmpl;
  EXPECT_EQ(BundleCgroupsPath(bundle), "");  // no config.json
  std::ofstream(bundle + "/config.json")
      << R"({"linux": {"cgroupsPath": "/kubepods/pod1/c1"}})";
  EXPECT_EQ(BundleCgroupsPath(bundle), "/kubepods/pod1/c1");
  std::ofstream(bundle + "/config.json") << R"({"linux": {}})";
  EXPECT_EQ(BundleCgroupsPath(bundle), "");
  std::ofstream(bundle + "/config.json") << "not json";
  EXPECT_EQ(BundleCgroupsPath(bundle), "");
  std::filesystem::remove_all(bundle);
}

TEST(RuncNewTest, MissingBinaryIsFailedPrecondition) {
  RuncOptions options;
  options.binary = "/nonexistent/runc";
  options.root = "/tmp/cradle-runc-unused";
  options.log_dir = "/tmp/cradle-runc-unused";
  // A path too must name an executable: a handler configured with a
  // runtime the machine lacks is unusable from the start.
  lite::StatusOr<std::unique_ptr<Runc>> runc = Runc::New(options);
  EXPECT_EQ(runc.status().code(), lite::StatusCode::kFailedPrecondition);
  EXPECT_NE(runc.status().message().find("/nonexistent/runc"),
            std::string::npos);
  options.binary = "no-such-runc-in-path";
  EXPECT_EQ(Runc::New(options).status().code(),
            lite::StatusCode::kFailedPrecondition);
  fs::remove_all("/tmp/cradle-runc-unused");
}

TEST(CriuLogTest, KeepsTheLastErrorLines) {
  EXPECT_EQ(CriuErrorFromLog("(00.001) Version: 3.17\n(00.002) fine\n"), "");
  EXPECT_EQ(CriuErrorFromLog(
                "(00.01) a\n(00.02) Error (criu/a.c:1): one\n"
                "(00.03) Error (criu/b.c:2): two\n(00.04) x\n"
                "(00.05) Error (criu/c.c:3): three\n"
                "(00.06) Error (criu/d.c:4): four\n"),
            "(00.03) Error (criu/b.c:2): two; (00.05) Error (criu/c.c:3): "
            "three; (00.06) Error (criu/d.c:4): four");
}

// A stand-in runc that takes `seconds` to answer anything: how long a big
// container's dump takes, without needing CRIU.
std::unique_ptr<Runc> SlowRunc(const std::string& dir, const char* seconds,
                               std::chrono::milliseconds call_timeout) {
  fs::create_directories(dir);
  std::string binary = dir + "/slow-runc";
  std::ofstream(binary) << "#!/bin/sh\nexec sleep " << seconds << "\n";
  fs::permissions(binary, fs::perms::owner_all);
  RuncOptions options;
  options.binary = binary;
  options.root = dir + "/state";
  options.log_dir = dir + "/logs";
  options.timeout = call_timeout;
  lite::StatusOr<std::unique_ptr<Runc>> runc = Runc::New(options);
  EXPECT_TRUE(runc.ok()) << runc.status().ToString();
  return runc.ok() ? *std::move(runc) : nullptr;
}

TEST(RuncCheckpointTest, OutlivesTheCallTimeoutOfOtherCommands) {
  std::string dir = std::string(getenv("TEST_TMPDIR")) + "/slow-dump";
  // The daemon gives every other runc command a short limit; a dump that
  // takes longer must not be killed by it.
  std::unique_ptr<Runc> runc =
      SlowRunc(dir, "1.5", std::chrono::milliseconds(300));
  ASSERT_NE(runc, nullptr);
  EXPECT_EQ(runc->State("c1").status().code(),
            lite::StatusCode::kDeadlineExceeded);
  RuncCheckpointOptions options;
  options.image_path = dir + "/images";
  options.work_path = dir + "/work";
  lite::Status s = runc->Checkpoint("c1", options, std::chrono::seconds(20));
  EXPECT_TRUE(s.ok()) << s.ToString();
  // With no limit given, the generous default applies.
  s = runc->Checkpoint("c1", options);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(RuncCheckpointTest, OwnTimeoutEndsAStuckDump) {
  std::string dir = std::string(getenv("TEST_TMPDIR")) + "/stuck-dump";
  std::unique_ptr<Runc> runc = SlowRunc(dir, "30", std::chrono::minutes(1));
  ASSERT_NE(runc, nullptr);
  RuncCheckpointOptions options;
  options.image_path = dir + "/images";
  options.work_path = dir + "/work";
  auto start = std::chrono::steady_clock::now();
  lite::Status s =
      runc->Checkpoint("c1", options, std::chrono::milliseconds(500));
  EXPECT_EQ(s.code(), lite::StatusCode::kDeadlineExceeded) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("no answer after 500ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace cradle
