// The pod network cradle ships (k8s/cni/99-cradle-default.conflist, the one
// tools/setup.sh installs), run as shipped from the test's own conf dir:
// NetworkReady, pod IPs in its subnet, lo up, the gateway, another pod and
// a hostPort reachable, and nothing of a pod left once it is removed.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "e2e/harness/pod_test.h"
#include "nlohmann/json.hpp"
#include "process/process.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// What k8s/cni/README.md documents; the test fails if the file drifts.
constexpr char kBridge[] = "cradle0";
constexpr char kSubnet[] = "10.77.0.0/16";
constexpr char kPrefix[] = "10.77.";
constexpr char kGateway[] = "10.77.0.1";
// host-local's leases for the network "cradle" (its default dataDir).
constexpr char kLeaseDir[] = "/var/lib/cni/networks/cradle";

std::string ShippedConflist() {
  return ReadFile(Runfile("k8s/cni/99-cradle-default.conflist"));
}

std::string RunOnHost(std::vector<std::string> argv) {
  SpawnOptions o;
  o.argv = std::move(argv);
  absl::StatusOr<RunResult> r = RunAndCapture(o, "", absl::Seconds(20));
  if (!r.ok()) return "FAILED: " + std::string(r.status().message());
  return r->status.ok() ? r->out : "FAILED: " + r->out + r->err;
}

bool LinkExists(const std::string& name) {
  return if_nametoindex(name.c_str()) != 0;
}

// A port nothing listens on now (the kernel's choice).
int FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), len) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// Connects from the host and reads what the server says until it closes;
// "" when it cannot connect or nothing came within 2 s.
std::string ReadFromHost(const std::string& ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  absl::Cleanup closer = [fd] { close(fd); };
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return "";
  std::string out;
  absl::Time deadline = absl::Now() + absl::Seconds(2);
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, n);
  }
  return out;
}

class DefaultNetworkTest : public PodTest {
 protected:
  // The harness's network dir, holding the shipped file instead of the
  // harness's own bridge (its bridge is never made then).
  DefaultNetworkTest() : PodTest(79) {
    conflist_ = ShippedConflist();
    network_.Write(conflist_);
  }

  void SetUp() override {
    // Whatever a test leaves on the host is only undone if it was not
    // there before: a real cradled on this node may share the bridge (the
    // shared lease dir keeps its pods' addresses and ours apart).
    bridge_existed_ = LinkExists(kBridge);
    leases_existed_ = fs::exists(kLeaseDir);
    PodTest::SetUp();
  }

  void TearDown() override {
    // The daemon's own CNI DEL undoes masquerade rules, hostPorts and
    // leases of pods a failed test left running.
    for (const std::string& id : pods_) {
      (void)StopPod(id);
      (void)RemovePod(id);
    }
    PodTest::TearDown();
    if (!bridge_existed_) RunOnHost({"ip", "link", "del", kBridge});
    if (!leases_existed_) {
      std::error_code ec;
      fs::remove_all(kLeaseDir, ec);
    }
  }

  std::string StartPod(const std::string& name,
                       const v1::PodSandboxConfig& config) {
    grpc::ClientContext ctx;
    v1::RunPodSandboxRequest req;
    *req.mutable_config() = config;
    v1::RunPodSandboxResponse resp;
    grpc::Status s = daemon().runtime().RunPodSandbox(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << name << ": " << s.error_message();
    if (s.ok()) pods_.push_back(resp.pod_sandbox_id());
    return resp.pod_sandbox_id();
  }

  v1::PodSandboxStatusResponse PodStatus(const std::string& id) {
    grpc::ClientContext ctx;
    v1::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(id);
    req.set_verbose(true);
    v1::PodSandboxStatusResponse resp;
    EXPECT_TRUE(daemon().runtime().PodSandboxStatus(&ctx, req, &resp).ok());
    return resp;
  }

  // Runs `cmd` in `container` until its stdout has `want` (bounded): the
  // server side of a check may still be starting.
  std::string ExecUntil(const std::string& container,
                        std::vector<std::string> cmd, const std::string& want) {
    std::string out;
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      v1::ExecSyncResponse exec;
      grpc::Status s = Exec(container, cmd, &exec, 5);
      if (!s.ok()) return "FAILED: " + s.error_message();
      out = exec.stdout();
      if (out.find(want) != std::string::npos) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return out;
  }

  std::string conflist_;
  std::vector<std::string> pods_;
  bool bridge_existed_ = false;
  bool leases_existed_ = false;
};

TEST_F(DefaultNetworkTest, TheShippedFileIsWhatTheReadmeSays) {
  nlohmann::json doc = nlohmann::json::parse(conflist_, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << conflist_;
  EXPECT_EQ(doc.value("name", ""), "cradle");
  EXPECT_EQ(doc.value("cniVersion", ""), "1.0.0");
  ASSERT_EQ(doc["plugins"].size(), 2u);
  const nlohmann::json& bridge = doc["plugins"][0];
  EXPECT_EQ(bridge.value("type", ""), "bridge");
  EXPECT_EQ(bridge.value("bridge", ""), kBridge);
  EXPECT_TRUE(bridge.value("isGateway", false));
  EXPECT_TRUE(bridge.value("ipMasq", false));
  EXPECT_TRUE(bridge.value("hairpinMode", false));
  EXPECT_EQ(bridge["ipam"].value("type", ""), "host-local");
  EXPECT_EQ(bridge["ipam"]["ranges"][0][0].value("subnet", ""), kSubnet);
  EXPECT_FALSE(bridge["ipam"].contains("dataDir"))
      << "leases in host-local's default place, shared with a real node";
  const nlohmann::json& portmap = doc["plugins"][1];
  EXPECT_EQ(portmap.value("type", ""), "portmap");
  EXPECT_TRUE(portmap["capabilities"].value("portMappings", false));
}

TEST_F(DefaultNetworkTest, PodsGetAnAddressLoopbackGatewayNeighboursAndPorts) {
  grpc::ClientContext ctx;
  v1::StatusResponse status;
  ASSERT_TRUE(daemon().runtime().Status(&ctx, {}, &status).ok());
  bool network_ready = false;
  for (const auto& c : status.status().conditions()) {
    if (c.type() == "NetworkReady") network_ready = c.status();
  }
  EXPECT_TRUE(network_ready) << status.DebugString();

  int host_port = FreeTcpPort();
  ASSERT_GT(host_port, 0);
  v1::PodSandboxConfig server_config = PodConfig("server");
  v1::PortMapping* mapping = server_config.add_port_mappings();
  mapping->set_container_port(8080);
  mapping->set_host_port(host_port);
  std::string server_pod = StartPod("server", server_config);
  std::string client_pod = StartPod("client", PodConfig("client"));
  ASSERT_FALSE(server_pod.empty());
  ASSERT_FALSE(client_pod.empty());

  v1::PodSandboxStatusResponse server_status = PodStatus(server_pod);
  v1::PodSandboxStatusResponse client_status = PodStatus(client_pod);
  std::string server_ip = server_status.status().network().ip();
  std::string client_ip = client_status.status().network().ip();
  EXPECT_THAT(server_ip, StartsWith(kPrefix));
  EXPECT_THAT(client_ip, StartsWith(kPrefix));
  EXPECT_NE(server_ip, client_ip);
  EXPECT_TRUE(LinkExists(kBridge));
  EXPECT_TRUE(fs::exists(absl::StrCat(kLeaseDir, "/", server_ip)));

  std::string server;
  std::string id;
  grpc::Status s = Create(
      server_pod,
      Config("srv",
             {"sh", "-c", "while true; do echo pong | nc -l -p 8080; done"}),
      &id, "server");
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(Start(id).ok());
  server = id;
  s = Create(client_pod, Config("cli", {"sleep", "1000"}), &id, "client");
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(Start(id).ok());
  std::string client = id;
  v1::ContainerStatus st;
  ASSERT_TRUE(Status(client, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_RUNNING);

  // lo is up, and carries traffic inside the pod.
  v1::ExecSyncResponse exec;
  ASSERT_TRUE(Exec(client, {"ip", "-o", "link", "show", "lo"}, &exec).ok());
  EXPECT_THAT(exec.stdout(), HasSubstr("LOOPBACK,UP"));
  EXPECT_EQ(ExecUntil(server, {"nc", "-w", "2", "127.0.0.1", "8080"}, "pong"),
            "pong\n");

  // The bridge is the pods' default route, and answers them.
  ASSERT_TRUE(Exec(client, {"ip", "route"}, &exec).ok());
  EXPECT_THAT(exec.stdout(), HasSubstr(absl::StrCat("default via ", kGateway)));
  nlohmann::json info =
      nlohmann::json::parse(client_status.info().at("info"), nullptr, false);
  ASSERT_TRUE(info.is_object());
  std::string ping =
      RunOnHost({"nsenter", "--net=" + info.value("netns", ""), "busybox",
                 "ping", "-c", "1", "-W", "2", kGateway});
  EXPECT_THAT(ping, HasSubstr("1 packets received")) << ping;

  // Another pod, over the bridge.
  EXPECT_EQ(ExecUntil(client, {"nc", "-w", "2", server_ip, "8080"}, "pong"),
            "pong\n");

  // The hostPort, from the host (portmap's DNAT of local traffic).
  std::string via_host_port;
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (via_host_port.empty() && absl::Now() < deadline) {
    via_host_port = ReadFromHost(kGateway, host_port);
    if (via_host_port.empty()) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(via_host_port, "pong\n");

  // Removing the pods undoes what the plugins did for them.
  for (const std::string& pod : {server_pod, client_pod}) {
    ASSERT_TRUE(StopPod(pod).ok());
    ASSERT_TRUE(RemovePod(pod).ok());
  }
  pods_.clear();
  EXPECT_FALSE(fs::exists(absl::StrCat(kLeaseDir, "/", server_ip)));
  EXPECT_FALSE(fs::exists(absl::StrCat(kLeaseDir, "/", client_ip)));
  std::string nat = RunOnHost({"iptables", "-t", "nat", "-S"});
  EXPECT_THAT(nat, Not(HasSubstr(server_pod))) << "ipMasq rules are gone";
  EXPECT_THAT(nat, Not(HasSubstr(client_pod)));
  EXPECT_THAT(nat, Not(HasSubstr(absl::StrCat("--dport ", host_port, " "))))
      << "the hostPort is gone";
}

}  // namespace
}  // namespace cradle::e2e
