// End to end: recursively read-only mounts and image volumes (Mount.image)
// with a real cradled, runc, registry and images.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "e2e/harness/pod_test.h"
#include "mount/mount.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;

class MountFeaturesTest : public PodTest {
 protected:
  MountFeaturesTest() : PodTest(86) {}

  void SetUp() override {
    PodTest::SetUp();
    if (HasFatalFailure()) return;
    char tmpl[] = "/tmp/cradle-mounts-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    host_ = tmpl;
    // A host volume with a submount: what "recursive" is about.
    fs::create_directories(host_ + "/sub");
    ASSERT_EQ(mount("tmpfs", (host_ + "/sub").c_str(), "tmpfs", 0, "size=1m"),
              0)
        << strerror(errno);
  }
  void TearDown() override {
    umount2((host_ + "/sub").c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(host_, ec);
    PodTest::TearDown();
  }

  // Exit code of `sh -c script` in the container; its output in *out.
  int Sh(const std::string& id, const std::string& script,
         std::string* out = nullptr) {
    v1::ExecSyncResponse r;
    grpc::Status s = Exec(id, {"sh", "-c", script}, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (out) *out = r.stdout() + r.stderr();
    return r.exit_code();
  }
  grpc::Status Pull(const std::string& ref) {
    grpc::ClientContext ctx;
    v1::PullImageRequest req;
    req.mutable_image()->set_image(ref);
    v1::PullImageResponse resp;
    return daemon().images().PullImage(&ctx, req, &resp);
  }
  grpc::Status RemoveImage(const std::string& ref) {
    grpc::ClientContext ctx;
    v1::RemoveImageRequest req;
    req.mutable_image()->set_image(ref);
    v1::RemoveImageResponse resp;
    return daemon().images().RemoveImage(&ctx, req, &resp);
  }
  int ContainerCount() {
    grpc::ClientContext ctx;
    v1::ListContainersRequest req;
    v1::ListContainersResponse resp;
    EXPECT_TRUE(daemon().runtime().ListContainers(&ctx, req, &resp).ok());
    return resp.containers_size();
  }
  v1::Mount* AddMount(v1::ContainerConfig& c, const std::string& path) {
    v1::Mount* m = c.add_mounts();
    m->set_container_path(path);
    return m;
  }
  v1::Mount* AddImageMount(v1::ContainerConfig& c, const std::string& path,
                           const std::string& ref,
                           const std::string& sub_path = "") {
    v1::Mount* m = AddMount(c, path);
    m->mutable_image()->set_image(ref);
    m->set_image_sub_path(sub_path);
    m->set_readonly(true);
    return m;
  }

  std::string host_;
};

TEST_F(MountFeaturesTest, StatusReportsRecursiveReadOnlyForEveryHandler) {
  grpc::ClientContext ctx;
  v1::StatusRequest req;
  v1::StatusResponse resp;
  ASSERT_TRUE(daemon().runtime().Status(&ctx, req, &resp).ok());
  ASSERT_GT(resp.runtime_handlers_size(), 0);
  for (const v1::RuntimeHandler& h : resp.runtime_handlers())
    EXPECT_TRUE(h.features().recursive_read_only_mounts()) << h.name();
}

TEST_F(MountFeaturesTest, RecursiveReadOnlyReachesSubmounts) {
  std::string pod = RunPod("rro");
  v1::ContainerConfig c = Config("app", {"sleep", "600"});
  // A plain read-only mount, for contrast: its submount stays writable.
  v1::Mount* ro = AddMount(c, "/ro");
  ro->set_host_path(host_);
  ro->set_readonly(true);
  v1::Mount* rro = AddMount(c, "/rro");
  rro->set_host_path(host_);
  rro->set_readonly(true);
  rro->set_recursive_read_only(true);
  std::string id = RunContainer(pod, c);
  std::string out;
  EXPECT_EQ(Sh(id, "touch /ro/sub/plain"), 0);
  EXPECT_NE(Sh(id, "touch /rro/sub/file", &out), 0);
  EXPECT_THAT(out, HasSubstr("Read-only file system"));
  EXPECT_NE(Sh(id, "touch /rro/top", &out), 0);
  EXPECT_THAT(out, HasSubstr("Read-only file system"));
  // Reading works, and the host's own tree stays writable.
  EXPECT_EQ(Sh(id, "cat /rro/sub/plain"), 0);
  EXPECT_TRUE(fs::exists(host_ + "/sub/plain"));
  std::ofstream(host_ + "/sub/host-write") << "x";
  EXPECT_TRUE(fs::exists(host_ + "/sub/host-write"));

  ASSERT_TRUE(StopC(id, 0).ok());
  ASSERT_TRUE(RemoveC(id).ok());
  EXPECT_THAT(MountsBelow(daemon().root()), ::testing::IsEmpty())
      << "the read-only copy goes with the container";
  EXPECT_TRUE(fs::exists(host_ + "/sub/host-write")) << "host data kept";
}

TEST_F(MountFeaturesTest, RecursiveReadOnlyNeedsReadOnlyAndPrivate) {
  std::string pod = RunPod("rro-bad");
  v1::ContainerConfig writable = Config("w", {"true"});
  v1::Mount* m = AddMount(writable, "/rro");
  m->set_host_path(host_);
  m->set_recursive_read_only(true);
  std::string id;
  grpc::Status s = Create(pod, writable, &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("needs readonly"));

  v1::ContainerConfig shared = Config("s", {"true"});
  m = AddMount(shared, "/rro");
  m->set_host_path(host_);
  m->set_readonly(true);
  m->set_recursive_read_only(true);
  m->set_propagation(v1::PROPAGATION_HOST_TO_CONTAINER);
  s = Create(pod, shared, &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("PROPAGATION_PRIVATE"));
  EXPECT_EQ(ContainerCount(), 0);
}

TEST_F(MountFeaturesTest, AnImageIsMountedReadOnlyWholeOrBySubPath) {
  std::string ref = images().Ref("multilayer:latest");
  ASSERT_TRUE(Pull(ref).ok());
  std::string pod = RunPod("imgvol");
  v1::ContainerConfig c = Config("app", {"sleep", "600"});
  AddImageMount(c, "/img", ref);
  AddImageMount(c, "/data", ref, "data");
  std::string id = RunContainer(pod, c);
  std::string out;
  // The image's files with its layers applied: b kept, a and removed-me
  // deleted by the whiteout layer.
  EXPECT_EQ(Sh(id, "cat /img/data/b", &out), 0);
  EXPECT_EQ(out, "b\n");
  EXPECT_NE(Sh(id, "test -e /img/etc/removed-me"), 0);
  EXPECT_EQ(Sh(id, "ls /data", &out), 0);
  EXPECT_EQ(out, "b\n");
  EXPECT_NE(Sh(id, "touch /img/new", &out), 0);
  EXPECT_THAT(out, HasSubstr("Read-only file system"));

  // In use: the image stays, and the error names the container.
  grpc::Status removed = RemoveImage(ref);
  EXPECT_EQ(removed.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(removed.error_message(), HasSubstr(id));
  EXPECT_THAT(removed.error_message(), HasSubstr("/img"));

  ASSERT_TRUE(StopC(id, 0).ok());
  ASSERT_TRUE(RemoveC(id).ok());
  EXPECT_THAT(MountsBelow(daemon().root()), ::testing::IsEmpty());
  EXPECT_TRUE(RemoveImage(ref).ok());
}

TEST_F(MountFeaturesTest, BadImageMountsAreRefusedAndLeaveNothing) {
  std::string ref = images().Ref("multilayer:latest");
  ASSERT_TRUE(Pull(ref).ok());
  std::string pod = RunPod("imgvol-bad");
  struct Case {
    const char* what;
    std::string image;
    std::string sub_path;
    std::string host_path;
    grpc::StatusCode code;
    const char* says;
  } cases[] = {
      {"not pulled", images().Ref("nosuch:latest"), "", "",
       grpc::StatusCode::NOT_FOUND, "pull it first"},
      {"missing sub path", ref, "no/such/dir", "", grpc::StatusCode::NOT_FOUND,
       "no/such/dir"},
      {"escaping sub path", ref, "../etc", "",
       grpc::StatusCode::INVALID_ARGUMENT, "image_sub_path"},
      {"two sources", ref, "", "/tmp", grpc::StatusCode::INVALID_ARGUMENT,
       "both a host_path and an image"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    v1::ContainerConfig c = Config("bad", {"true"});
    v1::Mount* m = AddImageMount(c, "/img", k.image, k.sub_path);
    m->set_host_path(k.host_path);
    std::string id;
    grpc::Status s = Create(pod, c, &id);
    EXPECT_EQ(s.error_code(), k.code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(k.says));
  }
  EXPECT_EQ(ContainerCount(), 0);
  EXPECT_THAT(MountsBelow(daemon().root()), ::testing::IsEmpty());
  // Nothing holds the image after the failed creates.
  EXPECT_TRUE(RemoveImage(ref).ok());
}

}  // namespace
}  // namespace cradle::e2e
