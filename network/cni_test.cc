// CNI against the real plugins in /usr/lib/cni, in network namespaces this
// test makes (root; tagged local). Traffic stays inside a private bridge.
#include "network/cni.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "namespaces/pinned.h"
#include "process/process.h"

namespace cradle {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

RunResult InNetNs(const std::string& netns, std::vector<std::string> argv,
                  absl::Duration timeout = absl::Seconds(10)) {
  SpawnOptions o;
  o.argv = {"nsenter", "--net=" + netns};
  o.argv.insert(o.argv.end(), argv.begin(), argv.end());
  absl::StatusOr<RunResult> r = RunAndCapture(o, "", timeout);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : RunResult{};
}

class CniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-cni-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    bridge_ = absl::StrCat("crdl", getpid() % 100000);
    fs::create_directories(dir_ + "/net.d");
    absl::StatusOr<std::unique_ptr<PodNetwork>> net =
        NewCniNetwork({dir_ + "/net.d", {"/usr/lib/cni"}, dir_ + "/cache"});
    ASSERT_TRUE(net.ok()) << net.status();
    net_ = *std::move(net);
  }

  void TearDown() override {
    for (const std::string& ns : netns_) (void)RemovePinnedNamespace(ns);
    RunAndCapture(SpawnOptions{{"ip", "link", "del", bridge_}}).IgnoreError();
    fs::remove_all(dir_);
  }

  void WriteConfig(const std::string& subnet,
                   const std::string& name = "10-test.conflist") {
    std::ofstream(dir_ + "/net.d/" + name) << absl::StrCat(
        R"({"cniVersion":"1.0.0","name":"cradle-test","plugins":[{"type":"bridge","bridge":")",
        bridge_,
        R"(","isGateway":true,"ipMasq":false,"hairpinMode":true,"ipam":)",
        R"({"type":"host-local","dataDir":")", dir_,
        R"(/ipam","ranges":[[{"subnet":")", subnet,
        R"("}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]})");
  }

  PodNetworkRequest Pod(const std::string& id) {
    std::string ns = absl::StrCat(dir_, "/ns-", id);
    EXPECT_TRUE(CreatePinnedNamespace(NamespaceKind::kNetwork, ns).ok());
    netns_.push_back(ns);
    PodNetworkRequest r;
    r.pod_id = id;
    r.netns_path = ns;
    r.pod_name = "pod-" + id;
    r.pod_namespace = "default";
    r.pod_uid = "uid-" + id;
    return r;
  }

  std::string dir_;
  std::string bridge_;
  std::vector<std::string> netns_;
  std::unique_ptr<PodNetwork> net_;
};

TEST_F(CniTest, NotReadyUntilAConfigAppears) {
  absl::Status s = net_->Ready();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr(dir_ + "/net.d"));
  WriteConfig("10.231.7.0/24");
  EXPECT_TRUE(net_->Ready().ok()) << net_->Ready();
}

TEST_F(CniTest, CniArgsSeparatorsInPodMetadataAreRefused) {
  WriteConfig("10.231.9.0/24");
  PodNetworkRequest r = Pod("sep");
  r.pod_name = "web;K8S_POD_NAMESPACE=kube-system";
  absl::StatusOr<PodNetworkResult> result = net_->Setup(r);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("CNI_ARGS"));
  r = Pod("sep2");
  r.pod_uid = "u=1";
  EXPECT_EQ(net_->Setup(r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CniTest, TwoPodsReachEachOtherAndAPortAndDetachCleanly) {
  WriteConfig("10.231.7.0/24");
  PodNetworkRequest a = Pod("a"), b = Pod("b");
  absl::StatusOr<PodNetworkResult> ra = net_->Setup(a);
  ASSERT_TRUE(ra.ok()) << ra.status();
  absl::StatusOr<PodNetworkResult> rb = net_->Setup(b);
  ASSERT_TRUE(rb.ok()) << rb.status();
  ASSERT_EQ(ra->ips.size(), 1u);
  ASSERT_EQ(rb->ips.size(), 1u);
  EXPECT_THAT(ra->ips[0], ::testing::StartsWith("10.231.7."));
  EXPECT_NE(ra->ips[0], rb->ips[0]);
  EXPECT_TRUE(net_->Check(a).ok()) << net_->Check(a);

  // Loopback is up in the pod, and a reaches b by IP.
  EXPECT_THAT(InNetNs(a.netns_path, {"ip", "addr", "show", "lo"}).out,
              HasSubstr("UP"));
  RunResult ping = InNetNs(
      a.netns_path, {"busybox", "ping", "-c", "1", "-W", "2", rb->ips[0]});
  EXPECT_EQ(ping.status.exit_code, 0) << ping.out << ping.err;

  // A port served in b answers from a.
  fs::create_directories(dir_ + "/www");
  std::ofstream(dir_ + "/www/index.html") << "hello from b\n";
  SpawnOptions httpd;
  httpd.argv = {"nsenter",    "--net=" + b.netns_path,
                "busybox",    "httpd",
                "-f",         "-p",
                "8080",       "-h",
                dir_ + "/www"};
  absl::StatusOr<pid_t> server = Spawn(httpd);
  ASSERT_TRUE(server.ok()) << server.status();
  RunResult get;
  for (int i = 0; i < 50; ++i) {
    get = InNetNs(a.netns_path,
                  {"curl", "-s", "-m", "2",
                   absl::StrCat("http://", rb->ips[0], ":8080/index.html")});
    if (get.status.ok()) break;
    usleep(100 * 1000);
  }
  kill(*server, SIGTERM);
  WaitFor(*server).IgnoreError();
  EXPECT_EQ(get.out, "hello from b\n") << get.err;

  ASSERT_TRUE(net_->Teardown(a).ok());
  ASSERT_TRUE(net_->Teardown(b).ok());
  EXPECT_THAT(InNetNs(a.netns_path, {"ip", "-o", "link"}).out,
              ::testing::Not(HasSubstr("eth0")));
  // The addresses went back to the pool, and a second teardown is a no-op.
  EXPECT_FALSE(
      fs::exists(absl::StrCat(dir_, "/ipam/cradle-test/", ra->ips[0])));
  EXPECT_TRUE(net_->Teardown(a).ok());
}

// cradled brings lo up itself: a plugin dir without the loopback plugin
// (it is no longer exec'd) still gives the pod a working 127.0.0.1.
TEST_F(CniTest, LoopbackIsUpWithoutTheLoopbackPlugin) {
  WriteConfig("10.231.10.0/24");
  fs::create_directories(dir_ + "/bin");
  for (const char* plugin : {"bridge", "host-local", "portmap"}) {
    fs::create_symlink(std::string("/usr/lib/cni/") + plugin,
                       dir_ + "/bin/" + plugin);
  }
  absl::StatusOr<std::unique_ptr<PodNetwork>> net =
      NewCniNetwork({dir_ + "/net.d", {dir_ + "/bin"}, dir_ + "/cache"});
  ASSERT_TRUE(net.ok()) << net.status();
  PodNetworkRequest a = Pod("lo");
  absl::StatusOr<PodNetworkResult> r = (*net)->Setup(a);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(InNetNs(a.netns_path, {"ip", "-o", "addr", "show", "lo"}).out,
              HasSubstr("127.0.0.1/8"));
  RunResult ping = InNetNs(
      a.netns_path, {"busybox", "ping", "-c", "1", "-W", "2", "127.0.0.1"});
  EXPECT_EQ(ping.status.exit_code, 0) << ping.out << ping.err;
  EXPECT_TRUE((*net)->Teardown(a).ok());
}

// A namespace that cannot be entered fails the ADD before any plugin runs.
TEST_F(CniTest, AMissingNamespaceFailsBeforeAnyPlugin) {
  WriteConfig("10.231.11.0/24");
  PodNetworkRequest a = Pod("gone");
  ASSERT_TRUE(RemovePinnedNamespace(a.netns_path).ok());
  absl::StatusOr<PodNetworkResult> r = net_->Setup(a);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("loopback for pod gone"));
  EXPECT_FALSE(fs::exists(dir_ + "/ipam/cradle-test"));
}

TEST_F(CniTest, TeardownUsesTheConfigOfTheAddEvenAfterItChanged) {
  WriteConfig("10.231.8.0/24");
  PodNetworkRequest a = Pod("c");
  absl::StatusOr<PodNetworkResult> r = net_->Setup(a);
  ASSERT_TRUE(r.ok()) << r.status();
  fs::remove_all(dir_ + "/net.d");
  fs::create_directories(dir_ + "/net.d");
  // A fresh PodNetwork, as after a daemon restart, with no config at all.
  absl::StatusOr<std::unique_ptr<PodNetwork>> restarted =
      NewCniNetwork({dir_ + "/net.d", {"/usr/lib/cni"}, dir_ + "/cache"});
  ASSERT_TRUE(restarted.ok());
  ASSERT_TRUE((*restarted)->Teardown(a).ok());
  EXPECT_FALSE(fs::exists(absl::StrCat(dir_, "/ipam/cradle-test/", r->ips[0])));
}

TEST_F(CniTest, AFailingPluginFailsCleanly) {
  std::ofstream(dir_ + "/net.d/10-broken.conflist") << absl::StrCat(
      R"({"cniVersion":"1.0.0","name":"broken","plugins":[{"type":"bridge","bridge":")",
      bridge_,
      R"(","ipam":{"type":"host-local","ranges":[[{"subnet":"not-a-subnet"}]]}}]})");
  PodNetworkRequest a = Pod("d");
  absl::StatusOr<PodNetworkResult> r = net_->Setup(a);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("CNI bridge ADD"));
  EXPECT_THAT(r.status().message(), HasSubstr("not-a-subnet"));
  EXPECT_THAT(InNetNs(a.netns_path, {"ip", "-o", "link"}).out,
              ::testing::Not(HasSubstr("eth0")));
  EXPECT_FALSE(fs::exists(dir_ + "/cache/d-eth0.json"));

  fs::remove(dir_ + "/net.d/10-broken.conflist");
  std::ofstream(dir_ + "/net.d/10-missing.conf")
      << R"({"cniVersion":"1.0.0","name":"m","type":"cradle-no-such-plugin"})";
  EXPECT_THAT(net_->Ready().message(), HasSubstr("cradle-no-such-plugin"));
}

}  // namespace
}  // namespace cradle
