#include "images/pull_progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "metrics/metrics.h"

namespace cradle {
namespace {

using ::testing::HasSubstr;

// A clock the test moves by hand.
struct ManualClock {
  absl::Time now = absl::FromUnixSeconds(1000);
  std::function<absl::Time()> Fn() {
    return [this] { return now; };
  }
};

TEST(PullProgressTest, StallsOnlyAfterTheTimeoutWithoutAByte) {
  ManualClock clock;
  PullProgress p("reg/app:1", {.stall_timeout = absl::Seconds(30),
                               .now = clock.Fn()});
  p.Expect("sha256:aaa", 100, 0);
  clock.now += absl::Seconds(29);
  EXPECT_TRUE(p.Check().ok());
  p.Advance("sha256:aaa", 10);
  // Each byte restarts the wait.
  clock.now += absl::Seconds(29);
  EXPECT_TRUE(p.Check().ok());
  clock.now += absl::Seconds(1);
  absl::Status s = p.Check();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("reg/app:1"));
  EXPECT_THAT(s.message(), HasSubstr("image_pull_progress_timeout"));
  EXPECT_THAT(s.message(), HasSubstr("sha256:aaa 10/100"));
}

TEST(PullProgressTest, TheWaitStartsAgainWhenADownloadStarts) {
  ManualClock clock;
  PullProgress p("reg/app:1", {.stall_timeout = absl::Seconds(30),
                               .now = clock.Fn()});
  // Waiting on another pull's download of a shared blob is not a stall.
  clock.now += absl::Minutes(3);
  p.Expect("sha256:aaa", 100, 60);
  clock.now += absl::Seconds(29);
  EXPECT_TRUE(p.Check().ok());
  clock.now += absl::Seconds(1);
  EXPECT_EQ(p.Check().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(PullProgressTest, BytesThatAreNotStoredStillKeepThePullGoing) {
  ManualClock clock;
  PullProgress p("reg/app:1", {.stall_timeout = absl::Seconds(30),
                               .now = clock.Fn()});
  p.Expect("sha256:aaa", 100, 60);
  clock.now += absl::Seconds(29);
  p.Heartbeat();  // a registry resending the first 60 bytes
  clock.now += absl::Seconds(29);
  EXPECT_TRUE(p.Check().ok());
  EXPECT_EQ(p.totals().bytes_done, 60);
}

TEST(PullProgressTest, AStallIsReportedOnceAndThenRepeated) {
  metrics::Counter* stalls = metrics::Default().AddCounter(
      "cradle_image_pull_stalls_total",
      "Pulls cancelled because their downloads moved no byte for "
      "image_pull_progress_timeout.",
      {});
  double before = stalls->Value();
  ManualClock clock;
  PullProgress p("reg/app:1", {.stall_timeout = absl::Seconds(30),
                               .now = clock.Fn()});
  p.Expect("sha256:aaa", 100, 0);
  p.Expect("sha256:bbb", 100, 0);
  clock.now += absl::Seconds(31);
  absl::Status first = p.Check();
  EXPECT_EQ(first.code(), absl::StatusCode::kDeadlineExceeded);
  // The other download's check, even after a late byte, fails the same way.
  p.Advance("sha256:bbb", 1);
  EXPECT_EQ(p.Check(), first);
  EXPECT_EQ(stalls->Value() - before, 1);
}

TEST(PullProgressTest, ZeroTimeoutNeverStalls) {
  ManualClock clock;
  PullProgress p("reg/app:1",
                 {.stall_timeout = absl::ZeroDuration(), .now = clock.Fn()});
  p.Expect("sha256:aaa", 100, 0);
  clock.now += absl::Hours(48);
  EXPECT_TRUE(p.Check().ok());
}

TEST(PullProgressTest, TotalsCountResumedAndFinishedBlobs) {
  ManualClock clock;
  PullProgress p("reg/app:1", {.now = clock.Fn()});
  p.Expect("sha256:aaa", 100, 40);  // resumed at 40
  p.Expect("sha256:bbb", 50, 50);   // already stored
  p.Done("sha256:bbb");
  p.Advance("sha256:aaa", 30);
  PullProgress::Totals t = p.totals();
  EXPECT_EQ(t.bytes_done, 120);
  EXPECT_EQ(t.bytes_total, 150);
  EXPECT_EQ(t.blobs_done, 1);
  EXPECT_EQ(t.blobs_total, 2);
  // A registry that cannot resume starts the blob over from nothing.
  p.Expect("sha256:aaa", 100, 0);
  EXPECT_EQ(p.totals().bytes_done, 50);
  p.Done("sha256:aaa");
  t = p.totals();
  EXPECT_EQ(t.bytes_done, 150);
  EXPECT_EQ(t.blobs_done, 2);
}

TEST(PullProgressTest, MetricsFollowRunningPullsAndDropThemAtTheEnd) {
  metrics::Gauge* running = metrics::Default().AddGauge(
      "cradle_image_pulls_in_progress", "Image pulls running now.", {});
  metrics::Gauge* bytes = metrics::Default().AddGauge(
      "cradle_image_pull_progress_bytes",
      "Blob bytes of the pulls running now: stored so far (state=done) and "
      "in all (state=total).",
      {"state"});
  metrics::Counter* downloaded = metrics::Default().AddCounter(
      "cradle_image_pull_bytes_total",
      "Bytes of image blobs downloaded from registries.", {});
  double before = downloaded->Value();
  {
    PullProgress p("reg/app:1", {});
    EXPECT_EQ(running->Value(), 1);
    p.Expect("sha256:aaa", 100, 0);
    p.Advance("sha256:aaa", 25);
    EXPECT_EQ(bytes->Value({"done"}), 25);
    EXPECT_EQ(bytes->Value({"total"}), 100);
  }
  EXPECT_EQ(running->Value(), 0);
  EXPECT_EQ(bytes->Value({"done"}), 0);
  EXPECT_EQ(bytes->Value({"total"}), 0);
  EXPECT_EQ(downloaded->Value() - before, 25);
}

}  // namespace
}  // namespace cradle
