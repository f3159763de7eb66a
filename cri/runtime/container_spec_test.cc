#include "cri/runtime/container_spec.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

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

TEST_F(ContainerSpecTest, SupplementalGroupsPolicyStrictSkipsTheImagesGroups) {
  fs::create_directories(dir_ + "/rootfs/etc");
  std::ofstream(dir_ + "/rootfs/etc/passwd")
      << "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
  std::ofstream(dir_ + "/rootfs/etc/group")
      << "root:x:0:\napp:x:1000:\nwheel:x:10:app\naudio:x:29:app,other\n";
  v1::ContainerConfig config;
  config.add_command("true");
  auto* sc = config.mutable_linux()->mutable_security_context();
  sc->mutable_run_as_user()->set_value(1000);
  sc->add_supplemental_groups(5);
  sc->add_supplemental_groups(10);  // also the image's: listed once

  absl::StatusOr<spec::ContainerSpecInput> merge = For(config, {});
  ASSERT_TRUE(merge.ok()) << merge.status();
  EXPECT_EQ(merge->user.uid, 1000u);
  EXPECT_EQ(merge->user.gid, 1000u);
  EXPECT_THAT(merge->user.additional_gids,
              ::testing::UnorderedElementsAre(10, 29, 5));

  sc->set_supplemental_groups_policy(v1::SupplementalGroupsPolicy::Strict);
  absl::StatusOr<spec::ContainerSpecInput> strict = For(config, {});
  ASSERT_TRUE(strict.ok()) << strict.status();
  EXPECT_EQ(strict->user.uid, 1000u);
  EXPECT_EQ(strict->user.gid, 1000u) << "the primary gid is still passwd's";
  EXPECT_THAT(strict->user.additional_gids,
              ::testing::UnorderedElementsAre(5, 10));
}

}  // namespace
}  // namespace cradle
