// Conformance: concurrency, damaged ingests and labels.
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "content/testsuite/testsuite.h"

namespace cradle {
namespace {

using Code = absl::StatusCode;

const std::string kBlob = "the quick brown fox jumps over the lazy dog";

TEST_P(ContentStoreConformance, ConcurrentWritersOfOneDigestPublishOnce) {
  Digest d = Digest::OfBytes(kBlob);
  constexpr int kWriters = 6;
  absl::Mutex mu;
  int committed = 0;
  std::vector<absl::Status> results(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::unique_ptr<BlobWriter>> w =
          store_->Writer(absl::StrCat("dup-", i), kBlob.size(), d);
      if (!w.ok()) {
        results[i] = w.status();
        return;
      }
      for (char c : kBlob) {  // byte by byte, so the writers interleave
        if (absl::Status s = (*w)->Write(std::string(1, c)); !s.ok()) {
          results[i] = s;
          return;
        }
      }
      results[i] = (*w)->Commit(kBlob.size(), d);
      if (results[i].ok()) {
        absl::MutexLock lock(&mu);
        ++committed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) {
    EXPECT_TRUE(s.ok() || s.code() == Code::kAlreadyExists) << s;
  }
  EXPECT_EQ(committed, 1);
  EXPECT_EQ(ReadAll(d), kBlob);
  EXPECT_TRUE(store_->ListIngests()->empty());
}

TEST_P(ContentStoreConformance, ConcurrentWritersOfDifferentBlobs) {
  constexpr int kWriters = 4;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      std::string data = absl::StrCat(kBlob, i);
      Digest d = Digest::OfBytes(data);
      absl::StatusOr<std::unique_ptr<BlobWriter>> w =
          store_->Writer(absl::StrCat("many-", i), data.size(), d);
      results[i] = w.status();
      if (w.ok()) results[i] = (*w)->Write(data);
      if (results[i].ok()) results[i] = (*w)->Commit(data.size(), d);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kWriters; ++i) {
    EXPECT_TRUE(results[i].ok()) << results[i];
    std::string data = absl::StrCat(kBlob, i);
    EXPECT_EQ(ReadAll(Digest::OfBytes(data)), data);
  }
}

}  // namespace

std::string ContentStoreConformance::InterruptIngest(const std::string& ref,
                                                     const std::string& blob,
                                                     size_t n) {
  {
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        store_->Writer(ref, blob.size(), Digest::OfBytes(blob));
    EXPECT_TRUE(w.ok()) << w.status();
    if (w.ok()) {
      EXPECT_TRUE((*w)->Write(blob.substr(0, n)).ok());
    }
  }
  store_.reset();
  return GetParam().ingest_data_path(dir_, ref);
}

absl::Status ContentStoreConformance::FinishIngest(const std::string& ref,
                                                   const std::string& blob,
                                                   int64_t* resumed_at) {
  Digest d = Digest::OfBytes(blob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer(ref, blob.size(), d);
  if (!w.ok()) return w.status();
  *resumed_at = (*w)->offset();
  if (absl::Status s = (*w)->Write(blob.substr(*resumed_at)); !s.ok()) return s;
  return (*w)->Commit(blob.size(), d);
}

namespace {

TEST_P(ContentStoreConformance, GarbledIngestNeverCommits) {
  std::string data = InterruptIngest("garbled", kBlob, 20);
  ASSERT_TRUE(std::filesystem::exists(data)) << data;
  {
    std::fstream f(data, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('#');
  }
  Reopen();
  int64_t at = -1;
  EXPECT_EQ(FinishIngest("garbled", kBlob, &at).code(), Code::kDataLoss);
  EXPECT_EQ(at, 20);
  EXPECT_EQ(store_->Info(Digest::OfBytes(kBlob)).status().code(),
            Code::kNotFound);
  // The next attempt starts clean and succeeds.
  EXPECT_TRUE(FinishIngest("garbled", kBlob, &at).ok());
  EXPECT_EQ(at, 0);
  EXPECT_EQ(ReadAll(Digest::OfBytes(kBlob)), kBlob);
}

TEST_P(ContentStoreConformance, TruncatedIngestResumesAtItsLength) {
  std::string data = InterruptIngest("truncated", kBlob, 20);
  ASSERT_TRUE(std::filesystem::exists(data)) << data;
  std::filesystem::resize_file(data, 6);
  Reopen();
  int64_t at = -1;
  EXPECT_TRUE(FinishIngest("truncated", kBlob, &at).ok());
  EXPECT_EQ(at, 6);
  EXPECT_EQ(ReadAll(Digest::OfBytes(kBlob)), kBlob);
}

TEST_P(ContentStoreConformance, OverlongIngestStartsOver) {
  std::string data = InterruptIngest("overlong", kBlob, 20);
  ASSERT_TRUE(std::filesystem::exists(data)) << data;
  {
    std::ofstream f(data, std::ios::app | std::ios::binary);
    f << std::string(kBlob.size(), 'z');
  }
  Reopen();
  int64_t at = -1;
  EXPECT_TRUE(FinishIngest("overlong", kBlob, &at).ok());
  EXPECT_EQ(at, 0);
  EXPECT_EQ(ReadAll(Digest::OfBytes(kBlob)), kBlob);
}

TEST_P(ContentStoreConformance, Labels) {
  Digest d = Digest::OfBytes(kBlob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("labelled", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(kBlob).ok());
  Labels labels = {{"a", "1"}, {"b", "2"}};
  absl::Status committed = (*w)->Commit(kBlob.size(), d, labels);
  if (!GetParam().keeps_labels) {
    EXPECT_EQ(committed.code(), Code::kUnimplemented);
    // The refusal leaves the ingest usable.
    ASSERT_TRUE((*w)->Commit(kBlob.size(), d).ok());
    EXPECT_EQ(store_->Update(d, labels).status().code(), Code::kUnimplemented);
    return;
  }
  ASSERT_TRUE(committed.ok()) << committed;
  EXPECT_EQ(store_->Info(d)->labels, labels);
  absl::StatusOr<ContentInfo> updated =
      store_->Update(d, {{"a", ""}, {"c", "3"}});
  ASSERT_TRUE(updated.ok()) << updated.status();
  Labels want = {{"b", "2"}, {"c", "3"}};
  EXPECT_EQ(updated->labels, want);
  EXPECT_EQ(store_->Info(d)->labels, want);
  EXPECT_EQ(store_->Update(Digest::OfBytes("x"), {{"a", "1"}}).status().code(),
            Code::kNotFound);
  Digest other = Put("other", "other");
  std::vector<Digest> seen;
  ContentFilter filter;
  filter.labels = {{"c", ""}};
  ASSERT_TRUE(store_
                  ->Walk(filter,
                         [&](const ContentInfo& info) {
                           seen.push_back(info.digest);
                           return absl::OkStatus();
                         })
                  .ok());
  EXPECT_EQ(seen, std::vector<Digest>{d});
  EXPECT_NE(other, d);
}

}  // namespace
}  // namespace cradle
