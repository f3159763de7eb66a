#include "cri/runtime/container_spec.h"

#include <unistd.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

TEST(CleanContainerPath, OneSpellingPerPath) {
  for (const char* p : {"/data", "/data/", "/data/.", "//data", "data",
                        "/./data//", "/x/../data"}) {
    EXPECT_EQ(CleanContainerPath(p), "/data") << p;
  }
  EXPECT_EQ(CleanContainerPath("/"), "/");
  EXPECT_EQ(CleanContainerPath("/.."), "/");
  EXPECT_EQ(CleanContainerPath("/a/b/"), "/a/b");
}

class ContainerSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-spec-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/rootfs");
    fs::create_directories(dir_ + "/host-data");
    fs::create_directories(dir_ + "/pod");
  }
  void TearDown() override { fs::remove_all(dir_); }

  absl::StatusOr<spec::ContainerSpecInput> For(
      const v1::ContainerConfig& config, const oci::ImageConfig& image) {
    PodRecord pod;
    pod.id = "pod";
    pod.pod_dir = dir_ + "/pod";
    ContainerSpecContext ctx;
    ctx.container_id = "c";
    ctx.rootfs = dir_ + "/rootfs";
    ctx.volumes_dir = dir_ + "/volumes";
    return ContainerSpecFor(config, pod, v1::PodSandboxConfig(), image, ctx);
  }

  std::string dir_;
};

TEST_F(ContainerSpecTest, AnImageVolumeNeverHidesACriMountAtTheSamePath) {
  v1::ContainerConfig config;
  config.add_command("true");
  v1::Mount* m = config.add_mounts();
  m->set_container_path("/data");
  m->set_host_path(dir_ + "/host-data");
  for (const char* volume : {"/data/", "/data/.", "//data", "/data"}) {
    oci::ImageConfig image;
    image.volumes = {volume, "/cache/"};
    absl::StatusOr<spec::ContainerSpecInput> in = For(config, image);
    ASSERT_TRUE(in.ok()) << in.status();
    int at_data = 0;
    std::string cache_source;
    for (const spec::BindMount& b : in->mounts) {
      if (CleanContainerPath(b.container_path) == "/data") {
        ++at_data;
        EXPECT_EQ(b.host_path, dir_ + "/host-data") << volume;
      }
      if (b.container_path == "/cache") cache_source = b.host_path;
    }
    EXPECT_EQ(at_data, 1) << "VOLUME " << volume;
    // The image's own volume still gets a directory, under its clean name.
    EXPECT_THAT(cache_source, ::testing::StartsWith(dir_ + "/volumes/"));
  }
}

}  // namespace
}  // namespace cradle
