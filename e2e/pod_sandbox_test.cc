// Pod sandboxes over the real socket with real CNI plugins on a private
// bridge inside this machine.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "e2e/harness/fixture.h"
#include "e2e/harness/test_network.h"
#include "nlohmann/json.hpp"
#include "process/process.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class PodSandboxTest : public CradleTest {
 protected:
  std::string ExtraConfig() override {
    return CradleTest::ExtraConfig() + network_.DaemonConfig();
  }
  void WriteCni(const std::string& conflist) { network_.Write(conflist); }

  runtime::v1::PodSandboxConfig Config(const std::string& name,
                                       uint32_t attempt = 0) {
    runtime::v1::PodSandboxConfig c;
    c.mutable_metadata()->set_name(name);
    c.mutable_metadata()->set_namespace_("e2e");
    c.mutable_metadata()->set_uid("uid-" + name);
    c.mutable_metadata()->set_attempt(attempt);
    c.set_hostname(name + "-host");
    (*c.mutable_labels())["app"] = name;
    (*c.mutable_annotations())["note"] = "kept as given";
    c.mutable_dns_config()->add_servers("10.96.0.10");
    c.mutable_dns_config()->add_searches("e2e.svc.cluster.local");
    return c;
  }
  grpc::Status Run(const runtime::v1::PodSandboxConfig& c, std::string* id) {
    grpc::ClientContext ctx;
    runtime::v1::RunPodSandboxRequest req;
    *req.mutable_config() = c;
    runtime::v1::RunPodSandboxResponse resp;
    grpc::Status s = daemon().runtime().RunPodSandbox(&ctx, req, &resp);
    *id = resp.pod_sandbox_id();
    return s;
  }
  grpc::Status PodStatus(const std::string& id,
                         runtime::v1::PodSandboxStatusResponse* resp) {
    grpc::ClientContext ctx;
    runtime::v1::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(id);
    req.set_verbose(true);
    return daemon().runtime().PodSandboxStatus(&ctx, req, resp);
  }
  grpc::Status Stop(const std::string& id) {
    grpc::ClientContext ctx;
    runtime::v1::StopPodSandboxRequest req;
    req.set_pod_sandbox_id(id);
    runtime::v1::StopPodSandboxResponse resp;
    return daemon().runtime().StopPodSandbox(&ctx, req, &resp);
  }
  grpc::Status RemovePod(const std::string& id) {
    grpc::ClientContext ctx;
    runtime::v1::RemovePodSandboxRequest req;
    req.set_pod_sandbox_id(id);
    runtime::v1::RemovePodSandboxResponse resp;
    return daemon().runtime().RemovePodSandbox(&ctx, req, &resp);
  }
  std::vector<runtime::v1::PodSandbox> List(
      runtime::v1::PodSandboxFilter filter = {}) {
    grpc::ClientContext ctx;
    runtime::v1::ListPodSandboxRequest req;
    *req.mutable_filter() = filter;
    runtime::v1::ListPodSandboxResponse resp;
    EXPECT_TRUE(daemon().runtime().ListPodSandbox(&ctx, req, &resp).ok());
    return {resp.items().begin(), resp.items().end()};
  }
  nlohmann::json Info(const std::string& id) {
    runtime::v1::PodSandboxStatusResponse resp;
    EXPECT_TRUE(PodStatus(id, &resp).ok());
    return nlohmann::json::parse(resp.info().at("info"));
  }
  std::string InNs(const std::string& flag, std::vector<std::string> argv) {
    SpawnOptions o;
    o.argv = {"nsenter", flag};
    o.argv.insert(o.argv.end(), argv.begin(), argv.end());
    absl::StatusOr<RunResult> r = RunAndCapture(o, "", absl::Seconds(10));
    return r.ok() && r->status.ok() ? r->out
                                    : "FAILED: " + (r.ok() ? r->err : "");
  }

  TestNetwork network_{77};
  const std::string& cni_dir_ = network_.dir();
  const std::string& bridge_ = network_.bridge();
};

TEST_F(PodSandboxTest, LifecycleStatusListStopRemove) {
  std::string id;
  grpc::Status s = Run(Config("web"), &id);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(id.size(), 64u);

  runtime::v1::PodSandboxStatusResponse st;
  ASSERT_TRUE(PodStatus(id.substr(0, 12), &st).ok())
      << "a unique prefix is enough";
  EXPECT_EQ(st.status().id(), id);
  EXPECT_EQ(st.status().state(), runtime::v1::SANDBOX_READY);
  EXPECT_EQ(st.status().metadata().name(), "web");
  EXPECT_THAT(st.status().network().ip(), ::testing::StartsWith("10.88.77."));
  EXPECT_EQ(st.status().labels().at("app"), "web");
  EXPECT_EQ(st.status().annotations().at("note"), "kept as given");
  EXPECT_GT(st.status().created_at(), 0);

  nlohmann::json info = Info(id);
  std::string pod_dir = info["podDir"];
  std::string ip = st.status().network().ip();
  EXPECT_EQ(InNs("--uts=" + info["utsns"].get<std::string>(), {"hostname"}),
            "web-host\n");
  EXPECT_THAT(
      InNs("--net=" + info["netns"].get<std::string>(), {"ip", "-o", "addr"}),
      HasSubstr(st.status().network().ip()));
  std::ifstream resolv(pod_dir + "/resolv.conf");
  std::string text((std::istreambuf_iterator<char>(resolv)), {});
  EXPECT_THAT(text, HasSubstr("nameserver 10.96.0.10"));
  EXPECT_THAT(text, HasSubstr("search e2e.svc.cluster.local"));

  runtime::v1::PodSandboxFilter by_label;
  (*by_label.mutable_label_selector())["app"] = "web";
  EXPECT_EQ(List(by_label).size(), 1u);
  (*by_label.mutable_label_selector())["app"] = "other";
  EXPECT_TRUE(List(by_label).empty());
  runtime::v1::PodSandboxFilter by_id;
  by_id.set_id(id.substr(0, 8));
  ASSERT_EQ(List(by_id).size(), 1u);

  ASSERT_TRUE(Stop(id).ok());
  ASSERT_TRUE(PodStatus(id, &st).ok());
  EXPECT_EQ(st.status().state(), runtime::v1::SANDBOX_NOTREADY);
  EXPECT_TRUE(st.status().network().ip().empty());
  runtime::v1::PodSandboxFilter ready;
  ready.mutable_state()->set_state(runtime::v1::SANDBOX_READY);
  EXPECT_TRUE(List(ready).empty());
  EXPECT_TRUE(Stop(id).ok()) << "stop is idempotent";
  EXPECT_FALSE(fs::exists(info["netns"].get<std::string>()));

  ASSERT_TRUE(RemovePod(id).ok());
  EXPECT_TRUE(List().empty());
  EXPECT_FALSE(fs::exists(pod_dir));
  EXPECT_TRUE(RemovePod(id).ok()) << "remove is idempotent";
  // The address went back to the pool.
  EXPECT_FALSE(fs::exists(cni_dir_ + "/ipam/cradle-e2e/" + ip));
}

TEST_F(PodSandboxTest, NamesAreReservedAndUnknownIdsAreNotFound) {
  std::string a, b;
  ASSERT_TRUE(Run(Config("dup"), &a).ok());
  grpc::Status s = Run(Config("dup"), &b);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(s.error_message(), HasSubstr(a));
  EXPECT_TRUE(Run(Config("dup", 1), &b).ok())
      << "another attempt is another name";
  runtime::v1::PodSandboxStatusResponse st;
  EXPECT_EQ(PodStatus("ffffffffffff", &st).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Stop("ffffffffffff").error_code(), grpc::StatusCode::NOT_FOUND);
  runtime::v1::PodSandboxConfig no_uid = Config("x");
  no_uid.mutable_metadata()->clear_uid();
  EXPECT_EQ(Run(no_uid, &b).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(PodSandboxTest, TwoPodsReachEachOther) {
  std::string a, b;
  ASSERT_TRUE(Run(Config("a"), &a).ok());
  ASSERT_TRUE(Run(Config("b"), &b).ok());
  runtime::v1::PodSandboxStatusResponse sb;
  ASSERT_TRUE(PodStatus(b, &sb).ok());
  std::string out = InNs(
      "--net=" + Info(a)["netns"].get<std::string>(),
      {"busybox", "ping", "-c", "1", "-W", "2", sb.status().network().ip()});
  EXPECT_THAT(out, HasSubstr("1 packets received")) << out;
}

TEST_F(PodSandboxTest, HostNetworkPodHasNoNamespaceOrIp) {
  runtime::v1::PodSandboxConfig c = Config("hostnet");
  c.mutable_linux()
      ->mutable_security_context()
      ->mutable_namespace_options()
      ->set_network(runtime::v1::NODE);
  std::string id;
  ASSERT_TRUE(Run(c, &id).ok());
  runtime::v1::PodSandboxStatusResponse st;
  ASSERT_TRUE(PodStatus(id, &st).ok());
  EXPECT_TRUE(st.status().network().ip().empty());
  EXPECT_EQ(Info(id)["netns"], "");
  EXPECT_TRUE(RemovePod(id).ok());
}

TEST_F(PodSandboxTest, AFailingCniPluginFailsThePodCleanly) {
  WriteCni(absl::StrCat(
      R"({"cniVersion":"1.0.0","name":"broken","plugins":[{"type":"bridge",)",
      R"("bridge":")", bridge_,
      R"(","ipam":{"type":"host-local","ranges":[[{"subnet":"bad"}]]}}]})"));
  std::string id;
  grpc::Status s = Run(Config("victim"), &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("bridge"));
  EXPECT_TRUE(List().empty());
  EXPECT_TRUE(fs::is_empty(daemon().state() + "/pods"))
      << "nothing left of the pod";
  WriteCni(absl::StrCat(
      R"({"cniVersion":"1.0.0","name":"cradle-e2e","plugins":[{"type":)",
      R"("bridge","bridge":")", bridge_, R"(","ipam":{"type":"host-local",)",
      R"("dataDir":")", cni_dir_, R"(/ipam","ranges":[[{"subnet":)",
      R"("10.88.77.0/24"}]]}}]})"));
  EXPECT_TRUE(Run(Config("victim"), &id).ok()) << "the name was released";
}

TEST_F(PodSandboxTest, PortMappingsAreUndoneWhenThePodStops) {
  auto nat_rules_for = [](int port) {
    SpawnOptions o;
    o.argv = {"iptables", "-t", "nat", "-S"};
    absl::StatusOr<RunResult> r = RunAndCapture(o, "", absl::Seconds(10));
    EXPECT_TRUE(r.ok() && r->status.ok());
    int n = 0;
    std::string needle = absl::StrCat("--dport ", port, " ");
    for (size_t at = 0;
         r.ok() && (at = r->out.find(needle, at)) != std::string::npos; ++at) {
      ++n;
    }
    return n;
  };
  runtime::v1::PodSandboxConfig c = Config("mapped");
  runtime::v1::PortMapping* m = c.add_port_mappings();
  m->set_container_port(80);
  m->set_host_port(18123);
  std::string id;
  ASSERT_TRUE(Run(c, &id).ok());
  EXPECT_GT(nat_rules_for(18123), 0) << "portmap forwards the host port";
  ASSERT_TRUE(Stop(id).ok());
  EXPECT_EQ(nat_rules_for(18123), 0) << "stopping the pod undoes it";
  ASSERT_TRUE(RemovePod(id).ok());
}

TEST_F(PodSandboxTest, PodsSurviveADaemonKill) {
  std::string id;
  ASSERT_TRUE(Run(Config("survivor"), &id).ok());
  std::string netns = Info(id)["netns"];
  ASSERT_TRUE(daemon().Stop(SIGKILL).ok());
  ASSERT_TRUE(daemon().Restart().ok());
  runtime::v1::PodSandboxStatusResponse st;
  ASSERT_TRUE(PodStatus(id, &st).ok());
  EXPECT_EQ(st.status().state(), runtime::v1::SANDBOX_READY);
  EXPECT_TRUE(fs::exists(netns));
  std::string ip = st.status().network().ip();
  ASSERT_TRUE(Stop(id).ok());
  ASSERT_TRUE(RemovePod(id).ok());
  EXPECT_FALSE(fs::exists(cni_dir_ + "/ipam/cradle-e2e/" + ip));
}

TEST_F(PodSandboxTest, NetworkReadyFollowsTheCniConfig) {
  auto network_ready = [&] {
    grpc::ClientContext ctx;
    runtime::v1::StatusResponse resp;
    EXPECT_TRUE(daemon().runtime().Status(&ctx, {}, &resp).ok());
    for (const auto& c : resp.status().conditions()) {
      if (c.type() == "NetworkReady") return c;
    }
    return runtime::v1::RuntimeCondition();
  };
  EXPECT_TRUE(network_ready().status());
  fs::remove(cni_dir_ + "/net.d/10-test.conflist");
  runtime::v1::RuntimeCondition c = network_ready();
  EXPECT_FALSE(c.status());
  EXPECT_EQ(c.reason(), "NetworkPluginNotReady");
  EXPECT_THAT(c.message(), HasSubstr(cni_dir_ + "/net.d"));
}

}  // namespace
}  // namespace cradle::e2e
