// End to end: pods in their own user namespace (userns_options mode POD),
// with idmapped layers and volumes made by cradle, under runc and crun.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "e2e/harness/pod_test.h"
#include "nlohmann/json.hpp"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;

// As the kubelet hands them out: 65536 ids at a multiple of 65536.
constexpr uint32_t kHostBase = 5 * 65536;
constexpr uint32_t kSize = 65536;

void Map(google::protobuf::RepeatedPtrField<v1::IDMapping>* out,
         uint32_t host = kHostBase) {
  v1::IDMapping* m = out->Add();
  m->set_host_id(host);
  m->set_container_id(0);
  m->set_length(kSize);
}

class UserNamespaceTest : public PodTest {
 protected:
  UserNamespaceTest() : PodTest(87) {}

  void SetUp() override {
    PodTest::SetUp();
    if (HasFatalFailure()) return;
    char tmpl[] = "/tmp/cradle-userns-vol-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    volume_ = tmpl;
    chmod(volume_.c_str(), 0755);
    std::ofstream(volume_ + "/secret") << "s3cret\n";
    chmod((volume_ + "/secret").c_str(), 0600);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(volume_, ec);
    PodTest::TearDown();
  }

  v1::PodSandboxConfig PodConfig(const std::string& name) override {
    v1::PodSandboxConfig c = PodTest::PodConfig(name);
    if (userns_) {
      v1::UserNamespace* u = c.mutable_linux()
                                 ->mutable_security_context()
                                 ->mutable_namespace_options()
                                 ->mutable_userns_options();
      u->set_mode(v1::POD);
      Map(u->mutable_uids());
      Map(u->mutable_gids());
    }
    return c;
  }
  std::string RunPodWith(const std::string& name, const std::string& handler) {
    grpc::ClientContext ctx;
    v1::RunPodSandboxRequest req;
    *req.mutable_config() = PodConfig(name);
    req.set_runtime_handler(handler);
    v1::RunPodSandboxResponse resp;
    grpc::Status s = daemon().runtime().RunPodSandbox(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.pod_sandbox_id();
  }
  std::string Sh(const std::string& id, const std::string& script,
                 int* code = nullptr) {
    v1::ExecSyncResponse r;
    grpc::Status s = Exec(id, {"sh", "-c", script}, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (code)
      *code = r.exit_code();
    else
      EXPECT_EQ(r.exit_code(), 0) << script << ": " << r.stderr();
    return r.stdout() + r.stderr();
  }
  std::string HostRootfs(const std::string& id) {
    grpc::ClientContext ctx;
    v1::ContainerStatusRequest req;
    req.set_container_id(id);
    req.set_verbose(true);
    v1::ContainerStatusResponse resp;
    EXPECT_TRUE(daemon().runtime().ContainerStatus(&ctx, req, &resp).ok());
    nlohmann::json info = nlohmann::json::parse(resp.info().at("info"));
    return info.value("rootfs", "");
  }
  v1::ContainerConfig WithVolumes(const std::string& name) {
    v1::ContainerConfig c = Config(name, {"sleep", "600"});
    // Idmapped, as the kubelet asks for it: the pod's maps on the mount.
    v1::Mount* mapped = c.add_mounts();
    mapped->set_container_path("/mapped");
    mapped->set_host_path(volume_);
    Map(mapped->mutable_uidmappings());
    Map(mapped->mutable_gidmappings());
    // And not: host root's files are nobody's in the pod.
    v1::Mount* plain = c.add_mounts();
    plain->set_container_path("/plain");
    plain->set_host_path(volume_);
    return c;
  }
  void ChecksUnder(const std::string& handler);

  bool userns_ = true;
  std::string volume_;
};

void UserNamespaceTest::ChecksUnder(const std::string& handler) {
  std::string pod = RunPodWith("userns-" + handler, handler);
  std::string id = RunContainer(pod, WithVolumes("app"));
  // The kubelet's mapping, seen from inside.
  std::vector<std::string> uid_map = absl::StrSplit(
      Sh(id, "cat /proc/self/uid_map"), ' ', absl::SkipWhitespace());
  EXPECT_EQ(uid_map, (std::vector<std::string>{"0", std::to_string(kHostBase),
                                               "65536\n"}));
  EXPECT_EQ(Sh(id, "id -u; id -g"), "0\n0\n");
  // The image's files are root's inside; the host sees the pod's root
  // through the idmapped layers, and on disk the layer is unchanged.
  EXPECT_EQ(Sh(id, "stat -c %u:%g /bin/busybox"), "0:0\n");
  std::string rootfs = HostRootfs(id);
  struct stat st;
  ASSERT_EQ(stat((rootfs + "/bin/busybox").c_str(), &st), 0) << rootfs;
  EXPECT_EQ(st.st_uid, kHostBase);
  int layers_seen = 0;
  std::string store = daemon().root() + "/snapshots/overlayfs/snapshots";
  for (const auto& layer : fs::directory_iterator(store)) {
    std::string busybox = layer.path().string() + "/fs/bin/busybox";
    if (stat(busybox.c_str(), &st) != 0) continue;
    ++layers_seen;
    EXPECT_EQ(st.st_uid, 0u) << busybox;
  }
  EXPECT_GT(layers_seen, 0);
  // What root inside writes is the pod's host root's.
  Sh(id, "echo hi > /written");
  ASSERT_EQ(stat((rootfs + "/written").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kHostBase);
  EXPECT_EQ(st.st_gid, kHostBase);
  // An idmapped volume: host root's 0600 file is root's inside, readable
  // and writable, and what is created there is host root's.
  EXPECT_EQ(Sh(id, "stat -c %u:%g /mapped/secret"), "0:0\n");
  EXPECT_EQ(Sh(id, "cat /mapped/secret"), "s3cret\n");
  Sh(id, "echo new > /mapped/created");
  ASSERT_EQ(stat((volume_ + "/created").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  // The same host files without an id map: root of the pod is nobody to
  // them and cannot write host root's file.
  EXPECT_EQ(Sh(id, "stat -c %u /plain/secret"), "65534\n");
  int code = 0;
  std::string out = Sh(id, "echo x >> /plain/secret", &code);
  EXPECT_NE(code, 0);
  EXPECT_THAT(out, HasSubstr("Permission denied"));
  EXPECT_EQ(ReadFile(volume_ + "/secret"), "s3cret\n");
  // ContainerStatus.user: the ids inside the namespace.
  v1::ContainerStatus status;
  ASSERT_TRUE(Status(id, &status).ok());
  EXPECT_EQ(status.user().linux().uid(), 0);
  EXPECT_EQ(status.user().linux().gid(), 0);

  ASSERT_TRUE(StopC(id, 0).ok());
  ASSERT_TRUE(RemoveC(id).ok());
  ASSERT_TRUE(StopPod(pod).ok());
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(UserNamespaceTest, StatusReportsUserNamespacesForEveryHandler) {
  grpc::ClientContext ctx;
  v1::StatusRequest req;
  v1::StatusResponse resp;
  ASSERT_TRUE(daemon().runtime().Status(&ctx, req, &resp).ok());
  ASSERT_GT(resp.runtime_handlers_size(), 0);
  for (const v1::RuntimeHandler& h : resp.runtime_handlers())
    EXPECT_TRUE(h.features().user_namespaces()) << h.name();
}

TEST_F(UserNamespaceTest, ContainersRunMappedUnderRunc) { ChecksUnder("runc"); }

TEST_F(UserNamespaceTest, ContainersRunMappedUnderCrun) { ChecksUnder("crun"); }

TEST_F(UserNamespaceTest, BadUserNamespaceRequestsAreRefused) {
  struct Case {
    const char* what;
    void (*change)(v1::PodSandboxConfig&);
    const char* says;
  } cases[] = {
      {"no mappings",
       [](v1::PodSandboxConfig& c) {
         c.mutable_linux()
             ->mutable_security_context()
             ->mutable_namespace_options()
             ->mutable_userns_options()
             ->clear_uids();
       },
       "no uid mappings"},
      {"mode CONTAINER",
       [](v1::PodSandboxConfig& c) {
         c.mutable_linux()
             ->mutable_security_context()
             ->mutable_namespace_options()
             ->mutable_userns_options()
             ->set_mode(v1::CONTAINER);
       },
       "CONTAINER is not supported"},
      {"host network",
       [](v1::PodSandboxConfig& c) {
         c.mutable_linux()
             ->mutable_security_context()
             ->mutable_namespace_options()
             ->set_network(v1::NODE);
       },
       "host's network"},
      {"overlapping",
       [](v1::PodSandboxConfig& c) {
         Map(c.mutable_linux()
                 ->mutable_security_context()
                 ->mutable_namespace_options()
                 ->mutable_userns_options()
                 ->mutable_uids(),
             kHostBase + 10);
       },
       "overlap"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    grpc::ClientContext ctx;
    v1::RunPodSandboxRequest req;
    *req.mutable_config() = PodConfig("bad");
    k.change(*req.mutable_config());
    v1::RunPodSandboxResponse resp;
    grpc::Status s = daemon().runtime().RunPodSandbox(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr(k.says));
  }
  grpc::ClientContext ctx;
  v1::ListPodSandboxRequest list;
  v1::ListPodSandboxResponse pods;
  ASSERT_TRUE(daemon().runtime().ListPodSandbox(&ctx, list, &pods).ok());
  EXPECT_EQ(pods.items_size(), 0);

  // A mount whose maps are not the pod's.
  std::string pod = RunPodWith("mounts", "");
  v1::ContainerConfig c = Config("app", {"true"});
  v1::Mount* m = c.add_mounts();
  m->set_container_path("/v");
  m->set_host_path(volume_);
  Map(m->mutable_uidmappings(), kHostBase + kSize);
  Map(m->mutable_gidmappings(), kHostBase + kSize);
  std::string id;
  grpc::Status s = Create(pod, c, &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("differ from the pod's"));
}

TEST_F(UserNamespaceTest, MappedMountsNeedAPodUserNamespace) {
  userns_ = false;
  std::string pod = RunPodWith("host-userns", "");
  std::string id;
  grpc::Status s = Create(pod, WithVolumes("app"), &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("no user namespace"));
}

}  // namespace
}  // namespace cradle::e2e
