#include "metadata/metadata.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "metadata/keys.h"

namespace cradle {
namespace {

class MetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(getenv("TEST_TMPDIR")) + "/meta-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<MetadataStore>> s = OpenMetadataStore(dir_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  Image Make(const std::string& name, const std::string& digest) {
    Image i;
    i.name = name;
    i.target = {"application/vnd.oci.image.manifest.v1+json", digest, 123};
    i.labels = {{"k", "v"}};
    return i;
  }
  std::string dir_;
  std::unique_ptr<MetadataStore> store_;
};

TEST_F(MetadataTest, ImagesRoundTripAndPersist) {
  ASSERT_TRUE(store_
                  ->PutImage("k8s.io", Make("docker.io/library/busybox:latest",
                                            "sha256:a"))
                  .ok());
  absl::StatusOr<Image> got =
      store_->GetImage("k8s.io", "docker.io/library/busybox:latest");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->target.digest, "sha256:a");
  EXPECT_EQ(got->target.size, 123);
  EXPECT_EQ(got->labels.at("k"), "v");
  absl::Time created = got->created_at;
  EXPECT_GT(created, absl::UnixEpoch());
  Reopen();
  ASSERT_TRUE(store_
                  ->PutImage("k8s.io", Make("docker.io/library/busybox:latest",
                                            "sha256:b"))
                  .ok());
  got = store_->GetImage("k8s.io", "docker.io/library/busybox:latest");
  EXPECT_EQ(got->target.digest, "sha256:b");
  EXPECT_EQ(got->created_at, created) << "an update keeps the creation time";
  EXPECT_GE(got->updated_at, created);
}

TEST_F(MetadataTest, NamespacesAreSeparateAndPrefixesExact) {
  ASSERT_TRUE(store_->PutImage("k8s.io", Make("a", "sha256:1")).ok());
  ASSERT_TRUE(store_->PutImage("k8s.io2", Make("b", "sha256:2")).ok());
  ASSERT_EQ(store_->ListImages("k8s.io")->size(), 1u);
  EXPECT_EQ((*store_->ListImages("k8s.io"))[0].name, "a");
  EXPECT_EQ(store_->GetImage("default", "a").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(MetadataTest, DeleteSeveralAtOnce) {
  for (const char* n : {"x:1", "x:2", "y:1"})
    ASSERT_TRUE(store_->PutImage("k8s.io", Make(n, "sha256:1")).ok());
  ASSERT_TRUE(store_->DeleteImages("k8s.io", {"x:1", "x:2", "missing"}).ok());
  ASSERT_EQ(store_->ListImages("k8s.io")->size(), 1u);
}

TEST_F(MetadataTest, SecondOpenOfTheSameDirIsRefused) {
  absl::StatusOr<std::unique_ptr<MetadataStore>> second =
      OpenMetadataStore(dir_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(MetadataTest, ConcurrentWritersAllLand) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        EXPECT_TRUE(
            store_
                ->PutImage("k8s.io",
                           Make(absl::StrCat("img", t, "-", i), "sha256:1"))
                .ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store_->ListImages("k8s.io")->size(), 100u);
}

TEST(MetadataKeysTest, SchemaIsStable) {
  // The on-disk key format: changing it needs a version bump and a migration.
  EXPECT_EQ(metadata_keys::Image("k8s.io", "docker.io/library/busybox:latest"),
            "v1/ns/k8s.io/images/docker.io/library/busybox:latest");
  EXPECT_EQ(metadata_keys::kSchemaVersion, 1);
}

}  // namespace
}  // namespace cradle
