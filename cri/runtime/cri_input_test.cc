#include "cri/runtime/cri_input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using ::testing::HasSubstr;

v1::PodSandboxConfig GoodPod() {
  v1::PodSandboxConfig c;
  c.mutable_metadata()->set_name("web-0");
  c.mutable_metadata()->set_namespace_("default");
  c.mutable_metadata()->set_uid("0b5c3a4e-1111-2222-3333-444455556666");
  c.set_hostname("web-0");
  c.mutable_dns_config()->add_servers("10.96.0.10");
  c.mutable_dns_config()->add_searches("default.svc.cluster.local");
  c.mutable_dns_config()->add_options("ndots:5");
  c.mutable_linux()->set_cgroup_parent("/kubepods/besteffort/pod0b5c");
  return c;
}

void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr(field));
}

TEST(ValidatePodSandboxConfig, AcceptsWhatTheKubeletSends) {
  EXPECT_TRUE(ValidatePodSandboxConfig(GoodPod()).ok());
  EXPECT_TRUE(ValidatePodSandboxConfig(v1::PodSandboxConfig()).ok());
  v1::PodSandboxConfig systemd = GoodPod();
  systemd.mutable_linux()->set_cgroup_parent("kubepods-besteffort.slice");
  EXPECT_TRUE(ValidatePodSandboxConfig(systemd).ok());
}

TEST(ValidatePodSandboxConfig, RefusesCniArgsSeparatorsInMetadata) {
  for (const char* bad : {"a;K8S_POD_NAME=evil", "a=b", "a\nb"}) {
    v1::PodSandboxConfig c = GoodPod();
    c.mutable_metadata()->set_name(bad);
    ExpectInvalid(ValidatePodSandboxConfig(c), "metadata.name");
    c = GoodPod();
    c.mutable_metadata()->set_namespace_(bad);
    ExpectInvalid(ValidatePodSandboxConfig(c), "metadata.namespace");
    c = GoodPod();
    c.mutable_metadata()->set_uid(bad);
    ExpectInvalid(ValidatePodSandboxConfig(c), "metadata.uid");
  }
  v1::PodSandboxConfig c = GoodPod();
  c.mutable_metadata()->set_name("x;y");
  EXPECT_THAT(ValidatePodSandboxConfig(c).message(), HasSubstr("CNI_ARGS"));
}

TEST(ValidatePodSandboxConfig, RefusesLineBreaksInEtcFiles) {
  v1::PodSandboxConfig c = GoodPod();
  c.set_hostname("web\n10.0.0.1 kubernetes.default");
  ExpectInvalid(ValidatePodSandboxConfig(c), "hostname");
  // The message shows the character rather than breaking the line.
  EXPECT_THAT(ValidatePodSandboxConfig(c).message(), HasSubstr("web\\n10"));
  c = GoodPod();
  c.set_hostname("web alias");
  ExpectInvalid(ValidatePodSandboxConfig(c), "hostname");
  c = GoodPod();
  c.mutable_dns_config()->add_servers("1.1.1.1\nnameserver 6.6.6.6");
  ExpectInvalid(ValidatePodSandboxConfig(c), "dns_config.servers");
  c = GoodPod();
  c.mutable_dns_config()->add_searches(std::string("a\0b", 3));
  ExpectInvalid(ValidatePodSandboxConfig(c), "dns_config.searches");
  c = GoodPod();
  c.mutable_dns_config()->add_options("ndots:1\r\noptions rotate");
  ExpectInvalid(ValidatePodSandboxConfig(c), "dns_config.options");
}

TEST(ValidatePodSandboxConfig, RefusesACgroupParentLeavingItsPlace) {
  for (const char* bad : {"/kubepods/../../sys", "..", "/a/..", "../x"}) {
    v1::PodSandboxConfig c = GoodPod();
    c.mutable_linux()->set_cgroup_parent(bad);
    ExpectInvalid(ValidatePodSandboxConfig(c), "cgroup_parent");
  }
  v1::PodSandboxConfig c = GoodPod();
  c.mutable_linux()->set_cgroup_parent("/kubepods/a..b");  // only a name
  EXPECT_TRUE(ValidatePodSandboxConfig(c).ok());
}

TEST(ValidateInput, GcLabelsAreTheStoresOwn) {
  runtime::v1::PodSandboxConfig pod;
  (*pod.mutable_labels())["cradle.io/gc.ref.content"] = "sha256:00";
  absl::Status s = ValidatePodSandboxConfig(pod);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("reserved"), std::string::npos) << s;
  runtime::v1::ContainerConfig c;
  (*c.mutable_labels())["cradle.io/gc.ref.snapshot.overlayfs"] = "x";
  EXPECT_EQ(ValidateContainerConfig(c).code(),
            absl::StatusCode::kInvalidArgument);
  (*c.mutable_labels()).clear();
  (*c.mutable_labels())["cradle.io/app"] = "ok";
  EXPECT_TRUE(ValidateContainerConfig(c).ok());
}

TEST(ValidateContainerConfig, LogPathStaysInTheLogDirectory) {
  v1::ContainerConfig c;
  for (const char* good : {"", "app.log", "app/0.log", "a..b/0.log"}) {
    c.set_log_path(good);
    EXPECT_TRUE(ValidateContainerConfig(c).ok()) << good;
  }
  for (const char* bad :
       {"/etc/cron.d/x", "../../etc/x", "app/../../x", ".."}) {
    c.set_log_path(bad);
    absl::Status s = ValidateContainerConfig(c);
    ExpectInvalid(s, "log_path");
    EXPECT_THAT(s.message(), HasSubstr("log_directory"));
  }
}

class SeccompProfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-seccomp-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SeccompProfileTest, ReadsARegularFile) {
  std::string path = dir_ + "/profile.json";
  std::ofstream(path) << R"({"defaultAction":"SCMP_ACT_ALLOW"})";
  absl::StatusOr<std::string> text = ReadSeccompProfile(path);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, R"({"defaultAction":"SCMP_ACT_ALLOW"})");

  v1::ContainerConfig c;
  c.mutable_linux()->mutable_security_context()->set_seccomp_profile_path(
      "localhost/" + path);
  EXPECT_TRUE(ValidateContainerConfig(c).ok());
}

TEST_F(SeccompProfileTest, RefusesAFifoWithoutBlocking) {
  std::string path = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  // Asynchronous, so a blocking open fails the test instead of hanging it.
  auto read = std::async(std::launch::async,
                         [&] { return ReadSeccompProfile(path).status(); });
  if (read.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // A writer lets the stuck open return, so the test ends.
    close(open(path.c_str(), O_WRONLY | O_NONBLOCK));
    FAIL() << "reading the profile blocked on a FIFO";
  }
  ExpectInvalid(read.get(), "regular file");
}

TEST_F(SeccompProfileTest, RefusesDevicesAndHugeFiles) {
  ExpectInvalid(ReadSeccompProfile("/dev/zero").status(), "regular file");
  std::string big = dir_ + "/big.json";
  std::ofstream(big).close();
  ASSERT_EQ(truncate(big.c_str(), kMaxSeccompProfileBytes + 1), 0);
  ExpectInvalid(ReadSeccompProfile(big).status(), "limit");
  ExpectInvalid(ReadSeccompProfile("relative.json").status(), "absolute");
  ExpectInvalid(ReadSeccompProfile(dir_ + "/missing.json").status(),
                "cannot be opened");

  v1::ContainerConfig c;
  c.mutable_linux()
      ->mutable_security_context()
      ->mutable_seccomp()
      ->set_profile_type(v1::SecurityProfile::Localhost);
  c.mutable_linux()
      ->mutable_security_context()
      ->mutable_seccomp()
      ->set_localhost_ref("/dev/zero");
  ExpectInvalid(ValidateContainerConfig(c), "/dev/zero");
}

}  // namespace
}  // namespace cradle
