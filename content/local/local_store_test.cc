#include "content/local/local_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "content/testsuite/testsuite.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

ContentStoreFactory LocalFactory() {
  ContentStoreFactory f;
  f.name = "local";
  f.open = [](const std::string& dir) { return OpenLocalContentStore(dir); };
  f.keeps_labels = false;
  f.ingest_data_path = [](const std::string& dir, const std::string& ref) {
    return absl::StrCat(dir, "/ingest/", Digest::OfBytes(ref).hex(), "/data");
  };
  return f;
}

INSTANTIATE_TEST_SUITE_P(Local, ContentStoreConformance,
                         ::testing::Values(LocalFactory()),
                         [](const auto&) { return std::string("local"); });

// What is specific to the on-disk layout (docs/format/content-layout.md).
class LocalLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = absl::StrCat(
        getenv("TEST_TMPDIR"), "/layout-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    absl::StatusOr<std::unique_ptr<ContentStore>> s =
        OpenLocalContentStore(root_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  std::string root_;
  std::unique_ptr<ContentStore> store_;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(LocalLayoutTest, FilesWhereTheDocSays) {
  const std::string blob = "layout";
  Digest d = Digest::OfBytes(blob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("my ref/with slash", blob.size(), d);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("lay").ok());
  ASSERT_TRUE((*w)->Close().ok());
  std::string ingest = absl::StrCat(root_, "/ingest/",
                                    Digest::OfBytes("my ref/with slash").hex());
  EXPECT_EQ(Slurp(ingest + "/ref"), "my ref/with slash");
  EXPECT_EQ(Slurp(ingest + "/total"), "6");
  EXPECT_EQ(Slurp(ingest + "/expected"), d.ToString());
  EXPECT_EQ(Slurp(ingest + "/data"), "lay");
  EXPECT_TRUE(fs::exists(ingest + "/startedat"));
  EXPECT_TRUE(fs::exists(ingest + "/updatedat"));

  w = store_->Writer("my ref/with slash", blob.size(), d);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("out").ok());
  ASSERT_TRUE((*w)->Commit(blob.size(), d).ok());
  std::string path = absl::StrCat(root_, "/blobs/sha256/", d.hex());
  EXPECT_EQ(Slurp(path), blob);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_FALSE(fs::exists(ingest));
}

TEST_F(LocalLayoutTest, UnusableIngestDirsAreRemovedOnOpen) {
  std::string stray = root_ + "/ingest/not-a-hash";
  std::string half =
      absl::StrCat(root_, "/ingest/", Digest::OfBytes("half").hex());
  fs::create_directories(stray);
  fs::create_directories(half);
  std::ofstream(half + "/ref") << "half";  // crashed before `expected`
  // A sibling file that is not a blob name is left alone by Walk.
  std::ofstream(root_ + "/blobs/sha256/README") << "x";
  store_.reset();
  absl::StatusOr<std::unique_ptr<ContentStore>> s =
      OpenLocalContentStore(root_);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(fs::exists(stray));
  EXPECT_FALSE(fs::exists(half));
  EXPECT_TRUE((*s)->ListIngests()->empty());
  int blobs = 0;
  ASSERT_TRUE((*s)->Walk([&](const ContentInfo&) {
                    ++blobs;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(blobs, 0);
  EXPECT_TRUE(fs::exists(root_ + "/blobs/sha256/README"));
}

}  // namespace
}  // namespace cradle
