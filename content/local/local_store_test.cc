#include "content/local/local_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace cradle {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::string(getenv("TEST_TMPDIR")) + "/content-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    Reopen();
  }
  // A new store object on the same dir: what a daemon restart sees.
  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<ContentStore>> s =
        OpenLocalContentStore(root_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  std::string root_;
  std::unique_ptr<ContentStore> store_;
};

const std::string kBlob = "hello content store";

TEST_F(LocalStoreTest, WriteCommitRead) {
  Digest d = Digest::OfBytes(kBlob);
  EXPECT_EQ(store_->Info(d).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("ref-1", kBlob.size(), d);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Write(kBlob.substr(0, 5)).ok());
  ASSERT_TRUE((*w)->Write(kBlob.substr(5)).ok());
  EXPECT_EQ((*w)->offset(), static_cast<int64_t>(kBlob.size()));
  // Invisible until committed.
  EXPECT_EQ(store_->Info(d).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE((*w)->Commit(kBlob.size(), d).ok());
  absl::StatusOr<BlobInfo> info = store_->Info(d);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, static_cast<int64_t>(kBlob.size()));
  EXPECT_TRUE(fs::exists(root_ + "/blobs/sha256/" + d.hex()));
  absl::StatusOr<std::unique_ptr<BlobReader>> r = store_->Open(d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->ReadAt(0, 100), kBlob);
  EXPECT_EQ(*(*r)->ReadAt(6, 7), "content");
  EXPECT_TRUE(store_->ListIngests()->empty());
  // Writing it again is AlreadyExists, at once.
  EXPECT_EQ(store_->Writer("ref-2", kBlob.size(), d).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(LocalStoreTest, DigestOrSizeMismatchIsDataLossAndLeavesNothing) {
  Digest want = Digest::OfBytes("the real bytes");
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("bad", 14, want);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("forged bytes!!").ok());
  absl::Status s = (*w)->Commit(14, want);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr(want.ToString()));
  EXPECT_EQ(store_->Info(want).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->ListIngests()->empty())
      << "bad bytes must not be resumed";

  w = store_->Writer("short", 14, want);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("the real").ok());
  EXPECT_EQ((*w)->Commit(14, want).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->Info(want).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LocalStoreTest, ResumesAfterAnInterruptionAndARestart) {
  std::string blob(300000, 'x');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 7);
  Digest d = Digest::OfBytes(blob);
  {
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        store_->Writer("pull-1", blob.size(), d);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(blob.substr(0, 100000)).ok());
  }  // dropped: a failed download
  {
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        store_->Writer("pull-1", blob.size(), d);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ((*w)->offset(), 100000);
    ASSERT_TRUE((*w)->Write(blob.substr(100000, 100000)).ok());
  }
  Reopen();  // the daemon restarts
  absl::StatusOr<std::vector<IngestInfo>> ingests = store_->ListIngests();
  ASSERT_EQ(ingests->size(), 1u);
  EXPECT_EQ((*ingests)[0].ref, "pull-1");
  EXPECT_EQ((*ingests)[0].offset, 200000);
  EXPECT_EQ((*ingests)[0].expected_size, 300000);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("pull-1", blob.size(), d);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ((*w)->offset(), 200000);
  ASSERT_TRUE((*w)->Write(blob.substr(200000)).ok());
  ASSERT_TRUE((*w)->Commit(blob.size(), d).ok());
  EXPECT_EQ(*(*store_->Open(d))->ReadAt(0, blob.size()), blob);
}

TEST_F(LocalStoreTest, GarbledIngestLongerThanTheBlobStartsOver) {
  Digest d = Digest::OfBytes(kBlob);
  {
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        store_->Writer("g", kBlob.size(), d);
    ASSERT_TRUE((*w)->Write(kBlob.substr(0, 3)).ok());
  }
  // Something appended junk to the ingest file behind our back.
  std::string data_path;
  for (const auto& e : fs::directory_iterator(root_ + "/ingest"))
    data_path = e.path() / "data";
  std::ofstream(data_path, std::ios::app) << std::string(100, 'J');
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("g", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->offset(), 0);
  ASSERT_TRUE((*w)->Write(kBlob).ok());
  EXPECT_TRUE((*w)->Commit(kBlob.size(), d).ok());
}

TEST_F(LocalStoreTest, OneWriterPerRefAndConcurrentSameDigestCommitsOnce) {
  Digest d = Digest::OfBytes(kBlob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> a =
      store_->Writer("same", kBlob.size(), d);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(store_->Writer("same", kBlob.size(), d).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->Abort("same").code(), absl::StatusCode::kUnavailable);
  absl::StatusOr<std::unique_ptr<BlobWriter>> b =
      store_->Writer("other", kBlob.size(), d);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*a)->Write(kBlob).ok());
  ASSERT_TRUE((*b)->Write(kBlob).ok());
  EXPECT_TRUE((*a)->Commit(kBlob.size(), d).ok());
  EXPECT_EQ((*b)->Commit(kBlob.size(), d).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(store_->ListIngests()->empty());
}

TEST_F(LocalStoreTest, AbortDeleteAndWalk) {
  Digest d1 = Digest::OfBytes("one"), d2 = Digest::OfBytes("two");
  for (auto [d, text] : {std::pair{d1, "one"}, std::pair{d2, "two"}}) {
    auto w = store_->Writer(text, 3, d);
    ASSERT_TRUE((*w)->Write(text).ok());
    ASSERT_TRUE((*w)->Commit(3, d).ok());
  }
  {
    auto w = store_->Writer("dangling", 10, Digest::OfBytes("0123456789"));
    ASSERT_TRUE((*w)->Write("0123").ok());
  }
  ASSERT_EQ(store_->ListIngests()->size(), 1u);
  EXPECT_TRUE(store_->Abort("dangling").ok());
  EXPECT_TRUE(store_->Abort("dangling").ok());
  EXPECT_TRUE(store_->ListIngests()->empty());
  std::set<std::string> seen;
  ASSERT_TRUE(store_
                  ->Walk([&](const BlobInfo& info) {
                    seen.insert(info.digest.ToString());
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(seen, (std::set<std::string>{d1.ToString(), d2.ToString()}));
  EXPECT_TRUE(store_->Delete(d1).ok());
  EXPECT_EQ(store_->Delete(d1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Open(d1).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace cradle
