#include "content/testsuite/testsuite.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace cradle {

using Code = absl::StatusCode;

void ContentStoreConformance::SetUp() {
  const char* tmp = getenv("TEST_TMPDIR");
  ASSERT_NE(tmp, nullptr);
  std::string test =
      ::testing::UnitTest::GetInstance()->current_test_info()->name();
  dir_ = absl::StrCat(tmp, "/", GetParam().name, "-",
                      absl::StrReplaceAll(test, {{"/", "_"}}));
  std::filesystem::remove_all(dir_);
  Reopen();
}

void ContentStoreConformance::Reopen() {
  store_.reset();
  absl::StatusOr<std::unique_ptr<ContentStore>> s = GetParam().open(dir_);
  ASSERT_TRUE(s.ok()) << s.status();
  store_ = *std::move(s);
}

Digest ContentStoreConformance::Put(const std::string& ref,
                                    const std::string& data) {
  Digest d = Digest::OfBytes(data);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer(ref, data.size(), d);
  EXPECT_TRUE(w.ok()) << w.status();
  if (!w.ok()) return d;
  EXPECT_TRUE((*w)->Write(data).ok());
  absl::Status s = (*w)->Commit(data.size(), d);
  EXPECT_TRUE(s.ok()) << s;
  return d;
}

std::string ContentStoreConformance::ReadAll(const Digest& d) {
  absl::StatusOr<std::unique_ptr<BlobReader>> r = store_->Open(d);
  if (!r.ok()) return "<" + r.status().ToString() + ">";
  absl::StatusOr<std::string> bytes = (*r)->ReadAt(0, (*r)->size());
  return bytes.ok() ? *bytes : "<" + bytes.status().ToString() + ">";
}

namespace {

const std::string kBlob = "hello content store";

TEST_P(ContentStoreConformance, WriteCommitRead) {
  Digest d = Digest::OfBytes(kBlob);
  EXPECT_EQ(store_->Info(d).status().code(), Code::kNotFound);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("ref-1", kBlob.size(), d);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Write(kBlob.substr(0, 5)).ok());
  ASSERT_TRUE((*w)->Write(kBlob.substr(5)).ok());
  EXPECT_EQ((*w)->offset(), static_cast<int64_t>(kBlob.size()));
  EXPECT_EQ((*w)->CurrentDigest(), d);
  EXPECT_EQ(store_->Info(d).status().code(), Code::kNotFound)
      << "visible before commit";
  absl::Time before = absl::Now() - absl::Seconds(2);
  ASSERT_TRUE((*w)->Commit(kBlob.size(), d).ok());
  absl::StatusOr<ContentInfo> info = store_->Info(d);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->digest, d);
  EXPECT_EQ(info->size, static_cast<int64_t>(kBlob.size()));
  EXPECT_GE(info->created_at, before);
  EXPECT_EQ(ReadAll(d), kBlob);
  EXPECT_TRUE(store_->ListIngests()->empty());
  EXPECT_EQ(store_->Status("ref-1").status().code(), Code::kNotFound);
  EXPECT_EQ((*w)->Write("x").code(), Code::kFailedPrecondition);
  // Writing it again is AlreadyExists at once.
  EXPECT_EQ(store_->Writer("ref-2", kBlob.size(), d).status().code(),
            Code::kAlreadyExists);
}

TEST_P(ContentStoreConformance, EmptyBlob) {
  Digest d = Put("empty", "");
  EXPECT_EQ(store_->Info(d)->size, 0);
  EXPECT_EQ(ReadAll(d), "");
}

TEST_P(ContentStoreConformance, ReadAtRanges) {
  Digest d = Put("r", kBlob);
  absl::StatusOr<std::unique_ptr<BlobReader>> r = store_->Open(d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->size(), static_cast<int64_t>(kBlob.size()));
  EXPECT_EQ(*(*r)->ReadAt(6, 7), "content");
  EXPECT_EQ(*(*r)->ReadAt(14, 100), "store");  // short at the end
  EXPECT_EQ(*(*r)->ReadAt(kBlob.size(), 10), "");
  EXPECT_EQ(*(*r)->ReadAt(1000, 10), "");
  EXPECT_EQ(*(*r)->ReadAt(3, 0), "");
  EXPECT_FALSE((*r)->ReadAt(-1, 3).ok());
  EXPECT_EQ(store_->Open(Digest::OfBytes("nope")).status().code(),
            Code::kNotFound);
}

TEST_P(ContentStoreConformance, DigestMismatchIsDataLossAndNothingVisible) {
  std::string lie = kBlob;
  lie[0] = 'J';
  Digest d = Digest::OfBytes(kBlob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("liar", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(lie).ok());
  absl::Status s = (*w)->Commit(kBlob.size(), d);
  EXPECT_EQ(s.code(), Code::kDataLoss) << s;
  EXPECT_EQ(store_->Info(d).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Info(Digest::OfBytes(lie)).status().code(),
            Code::kNotFound);
  // Failed bytes are not resumed.
  EXPECT_EQ(store_->Status("liar").status().code(), Code::kNotFound);
  w = store_->Writer("liar", kBlob.size(), d);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->offset(), 0);
}

TEST_P(ContentStoreConformance, SizeMismatch) {
  Digest d = Digest::OfBytes(kBlob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("short", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(kBlob.substr(0, 4)).ok());
  EXPECT_EQ((*w)->Commit(kBlob.size(), d).code(), Code::kDataLoss);
  EXPECT_EQ(store_->Info(d).status().code(), Code::kNotFound);

  // Growing past the expected size fails at once and writes nothing.
  w = store_->Writer("long", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Write(kBlob + "!").code(), Code::kDataLoss);
  EXPECT_EQ((*w)->offset(), 0);
  ASSERT_TRUE((*w)->Write(kBlob).ok());
  // The right bytes but the wrong size promised at commit.
  EXPECT_EQ((*w)->Commit(kBlob.size() + 1, d).code(), Code::kDataLoss);
  EXPECT_EQ(store_->Info(d).status().code(), Code::kNotFound);
}

TEST_P(ContentStoreConformance, UnknownSizeIsCheckedByDigest) {
  Digest d = Digest::OfBytes(kBlob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w = store_->Writer("u", -1, d);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(kBlob).ok());
  ASSERT_TRUE((*w)->Commit(-1, d).ok());
  EXPECT_EQ(ReadAll(d), kBlob);
}

TEST_P(ContentStoreConformance, ResumeAfterClose) {
  Digest d = Digest::OfBytes(kBlob);
  {
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        store_->Writer("resume", kBlob.size(), d);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(kBlob.substr(0, 7)).ok());
    ASSERT_TRUE((*w)->Close().ok());
    EXPECT_TRUE((*w)->Close().ok());  // idempotent
    EXPECT_EQ((*w)->Write("x").code(), Code::kFailedPrecondition);
  }
  absl::StatusOr<IngestStatus> st = store_->Status("resume");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->offset, 7);
  EXPECT_EQ(st->total, static_cast<int64_t>(kBlob.size()));
  EXPECT_EQ(st->expected, d);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("resume", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->offset(), 7);
  EXPECT_EQ((*w)->CurrentDigest(), Digest::OfBytes(kBlob.substr(0, 7)));
  ASSERT_TRUE((*w)->Write(kBlob.substr(7)).ok());
  ASSERT_TRUE((*w)->Commit(kBlob.size(), d).ok());
  EXPECT_EQ(ReadAll(d), kBlob);
}

TEST_P(ContentStoreConformance, ResumeAfterRestart) {
  Digest d = Digest::OfBytes(kBlob);
  {
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        store_->Writer("restart", kBlob.size(), d);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(kBlob.substr(0, 11)).ok());
  }  // destroyed without Close
  Reopen();
  absl::StatusOr<std::vector<IngestStatus>> ingests = store_->ListIngests();
  ASSERT_TRUE(ingests.ok());
  ASSERT_EQ(ingests->size(), 1u);
  EXPECT_EQ((*ingests)[0].ref, "restart");
  EXPECT_EQ((*ingests)[0].offset, 11);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("restart", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->offset(), 11);
  ASSERT_TRUE((*w)->Write(kBlob.substr(11)).ok());
  ASSERT_TRUE((*w)->Commit(kBlob.size(), d).ok());
  EXPECT_EQ(ReadAll(d), kBlob);
}

TEST_P(ContentStoreConformance, SameRefForAnotherDigestStartsOver) {
  {
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        store_->Writer("ref", 3, Digest::OfBytes("abc"));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("ab").ok());
  }
  Digest d = Digest::OfBytes(kBlob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("ref", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->offset(), 0);
  ASSERT_TRUE((*w)->Write(kBlob).ok());
  EXPECT_TRUE((*w)->Commit(kBlob.size(), d).ok());
}

TEST_P(ContentStoreConformance, RefIsLockedWhileWritten) {
  Digest d = Digest::OfBytes(kBlob);
  absl::StatusOr<std::unique_ptr<BlobWriter>> first =
      store_->Writer("busy", kBlob.size(), d);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(store_->Writer("busy", kBlob.size(), d).status().code(),
            Code::kUnavailable);
  EXPECT_EQ(store_->Abort("busy").code(), Code::kUnavailable);
  ASSERT_TRUE((*first)->Close().ok());
  absl::StatusOr<std::unique_ptr<BlobWriter>> second =
      store_->Writer("busy", kBlob.size(), d);
  EXPECT_TRUE(second.ok()) << second.status();
}

TEST_P(ContentStoreConformance, Abort) {
  Digest d = Digest::OfBytes(kBlob);
  {
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        store_->Writer("gone", kBlob.size(), d);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("hello").ok());
  }
  ASSERT_TRUE(store_->Abort("gone").ok());
  EXPECT_EQ(store_->Status("gone").status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->ListIngests()->empty());
  EXPECT_TRUE(store_->Abort("gone").ok());  // idempotent
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      store_->Writer("gone", kBlob.size(), d);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->offset(), 0);
}

TEST_P(ContentStoreConformance, DeleteAndWalk) {
  std::set<Digest> want;
  for (int i = 0; i < 3; ++i)
    want.insert(Put(absl::StrCat("w", i), kBlob + std::to_string(i)));
  std::set<Digest> seen;
  ASSERT_TRUE(store_
                  ->Walk([&](const ContentInfo& info) {
                    seen.insert(info.digest);
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(seen, want);
  // Walk stops at the first error and returns it.
  int calls = 0;
  absl::Status s = store_->Walk([&](const ContentInfo&) {
    ++calls;
    return absl::InternalError("stop");
  });
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_EQ(calls, 1);

  Digest gone = *want.begin();
  ASSERT_TRUE(store_->Delete(gone).ok());
  EXPECT_EQ(store_->Info(gone).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Open(gone).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Delete(gone).code(), Code::kNotFound);
  seen.clear();
  ASSERT_TRUE(store_
                  ->Walk([&](const ContentInfo& info) {
                    seen.insert(info.digest);
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen.count(gone), 0u);
}

}  // namespace
}  // namespace cradle
