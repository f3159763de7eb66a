// The kubelet, crictl and kind files under k8s/ must parse and agree with
// cradled's own defaults: a socket path or cgroup driver that drifts from
// config/default_config.toml would leave a node that cannot start pods.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "config/config.h"
#include "lite/files.h"

namespace cradle {
namespace {

using ::testing::Contains;
using ::testing::IsEmpty;

std::string Runfile(const std::string& path) {
  const char* root = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  return std::string(root ? root : ".") + "/" +
         (workspace ? workspace : "cradle") + "/" + path;
}

std::string Read(const std::string& path) {
  std::string text = lite::ReadFileOrEmpty(Runfile(path));
  EXPECT_FALSE(text.empty()) << path << " is missing or empty";
  return text;
}

// The endpoint a kubelet or crictl uses for cradled's default socket.
std::string DefaultEndpoint() {
  return "unix://" + DefaultConfig().grpc.address;
}

TEST(NodeFilesTest, DefaultsAreWhatTheFilesAssume) {
  // Spelled out once, so a change of default fails here with the reason.
  EXPECT_EQ(DefaultConfig().grpc.address, "/run/cradle/cradle.sock");
  EXPECT_EQ(DefaultConfig().runtime.cgroup_driver, "cgroupfs");
}

TEST(NodeFilesTest, KubeletConfigurationPointsAtTheDefaultSocket) {
  YAML::Node kubelet = YAML::Load(Read("k8s/kubelet/kubelet-config.yaml"));
  EXPECT_EQ(kubelet["apiVersion"].as<std::string>(),
            "kubelet.config.k8s.io/v1beta1");
  EXPECT_EQ(kubelet["kind"].as<std::string>(), "KubeletConfiguration");
  EXPECT_EQ(kubelet["containerRuntimeEndpoint"].as<std::string>(),
            DefaultEndpoint());
  EXPECT_EQ(kubelet["imageServiceEndpoint"].as<std::string>(),
            DefaultEndpoint());
  EXPECT_EQ(kubelet["cgroupDriver"].as<std::string>(),
            DefaultConfig().runtime.cgroup_driver);
  EXPECT_EQ(kubelet["runtimeRequestTimeout"].as<std::string>(), "2m");
}

TEST(NodeFilesTest, KubeletDropInPassesTheSameEndpointsAndWaitsForCradle) {
  std::string text = Read("k8s/kubelet/10-cradle.conf");
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  EXPECT_THAT(lines, Contains("After=cradle.service"));
  EXPECT_THAT(lines, Contains("Wants=cradle.service"));
  std::vector<std::string> flags;
  for (absl::string_view line : lines) {
    if (absl::ConsumePrefix(&line, "Environment=\"KUBELET_EXTRA_ARGS=") &&
        absl::ConsumeSuffix(&line, "\"")) {
      flags = absl::StrSplit(line, ' ', absl::SkipEmpty());
    }
  }
  ASSERT_THAT(flags, ::testing::Not(IsEmpty()))
      << "no Environment=\"KUBELET_EXTRA_ARGS=...\" line";
  EXPECT_THAT(flags,
              Contains("--container-runtime-endpoint=" + DefaultEndpoint()));
  EXPECT_THAT(flags, Contains("--image-service-endpoint=" + DefaultEndpoint()));
  EXPECT_THAT(flags, Contains("--runtime-request-timeout=2m"));
}

TEST(NodeFilesTest, CrictlConfigPointsAtTheDefaultSocket) {
  YAML::Node crictl = YAML::Load(Read("k8s/crictl.yaml"));
  EXPECT_EQ(crictl["runtime-endpoint"].as<std::string>(), DefaultEndpoint());
  EXPECT_EQ(crictl["image-endpoint"].as<std::string>(), DefaultEndpoint());
  EXPECT_GT(crictl["timeout"].as<int>(), 0);
  EXPECT_FALSE(crictl["debug"].as<bool>());
}

TEST(NodeFilesTest, KindNodeConfigParsesAndMatchesKindsKubelet) {
  absl::StatusOr<Config> kind = ParseConfig(
      Read("k8s/kind/config.toml"), "k8s/kind/config.toml", DefaultConfig());
  ASSERT_TRUE(kind.ok()) << kind.status();
  // kind's kubelet runs with cgroupDriver: systemd.
  EXPECT_EQ(kind->runtime.cgroup_driver, "systemd");
  // The socket stays the default one kind-config.yaml and crictl.yaml name.
  EXPECT_EQ(kind->grpc.address, DefaultConfig().grpc.address);
}

TEST(NodeFilesTest, KindClusterConfigRegistersNodesWithCradlesSocket) {
  YAML::Node cluster = YAML::Load(Read("k8s/kind/kind-config.yaml"));
  EXPECT_EQ(cluster["kind"].as<std::string>(), "Cluster");
  EXPECT_EQ(cluster["apiVersion"].as<std::string>(), "kind.x-k8s.io/v1alpha4");
  // containerd patches would make kind restart containerd, which is off.
  EXPECT_FALSE(cluster["containerdConfigPatches"].IsDefined());
  std::vector<std::string> patched;
  for (const YAML::Node& patch_text : cluster["kubeadmConfigPatches"]) {
    YAML::Node patch = YAML::Load(patch_text.as<std::string>());
    std::string kind = patch["kind"].as<std::string>();
    EXPECT_EQ(patch["nodeRegistration"]["criSocket"].as<std::string>(),
              DefaultEndpoint())
        << kind;
    patched.push_back(kind);
  }
  EXPECT_THAT(patched, Contains("InitConfiguration"));
  EXPECT_THAT(patched, Contains("JoinConfiguration"));
}

}  // namespace
}  // namespace cradle
