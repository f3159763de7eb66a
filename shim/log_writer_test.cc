#include "shim/log_writer.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cradle::shim {
namespace {

using ::testing::ElementsAre;

timespec FixedNow() { return {1700000000, 123456789}; }

class LogWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::string(getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    auto w = CriLogWriter::Open(path_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    writer_ = std::move(*w);
    writer_->set_clock_for_test(FixedNow);
  }
  std::vector<std::string> Lines() {
    std::ifstream in(path_);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  std::string path_;
  std::unique_ptr<CriLogWriter> writer_;
};

TEST_F(LogWriterTest, TimeIsRfc3339WithNanoseconds) {
  EXPECT_EQ(CriLogTime(FixedNow()), "2023-11-14T22:13:20.123456789Z");
}

TEST_F(LogWriterTest, LinesAcrossChunksAndStreams) {
  writer_->Write(OutputStream::kStdout, "hel");
  writer_->Write(OutputStream::kStderr, "oops\n");
  writer_->Write(OutputStream::kStdout, "lo\nworld\n\nta");
  writer_->Finish(OutputStream::kStdout);
  const std::string t = "2023-11-14T22:13:20.123456789Z";
  EXPECT_THAT(Lines(), ElementsAre(t + " stderr F oops", t + " stdout F hello",
                                   t + " stdout F world", t + " stdout F ",
                                   t + " stdout F ta"));
}

TEST_F(LogWriterTest, LongLinesAreCutIntoPartials) {
  std::string line(CriLogWriter::kMaxLine * 2 + 10, 'x');
  writer_->Write(OutputStream::kStdout, line + "\n");
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 3u);
  const std::string prefix = "2023-11-14T22:13:20.123456789Z stdout ";
  EXPECT_EQ(lines[0], prefix + "P " + std::string(CriLogWriter::kMaxLine, 'x'));
  EXPECT_EQ(lines[1], prefix + "P " + std::string(CriLogWriter::kMaxLine, 'x'));
  EXPECT_EQ(lines[2], prefix + "F " + std::string(10, 'x'));
}

TEST_F(LogWriterTest, ReopenFollowsARotatedFile) {
  writer_->Write(OutputStream::kStdout, "before\n");
  ASSERT_EQ(rename(path_.c_str(), (path_ + ".1").c_str()), 0);
  writer_->Write(OutputStream::kStdout, "still old\n");
  ASSERT_TRUE(writer_->Reopen().ok());
  writer_->Write(OutputStream::kStdout, "after\n");
  std::vector<std::string> now = Lines();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_THAT(now[0], ::testing::EndsWith("stdout F after"));
  std::ifstream old(path_ + ".1");
  std::stringstream all;
  all << old.rdbuf();
  EXPECT_THAT(all.str(), ::testing::HasSubstr("F still old"));
}

}  // namespace
}  // namespace cradle::shim
