#include "metrics/process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cradle::metrics {
namespace {

TEST(ReadProcStatus, ReadsThisProcess) {
  auto self = ReadProcStatus(0);
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_GT(self->rss_bytes, 0);
  EXPECT_GT(self->rss_anon_bytes, 0);
  EXPECT_GE(self->threads, 1);
  auto by_pid = ReadProcStatus(getpid());
  ASSERT_TRUE(by_pid.ok()) << by_pid.status();
  EXPECT_GT(by_pid->rss_bytes, 0);
}

TEST(ReadProcStatus, GoneProcessIsNotFound) {
  // Beyond pid_max on any Linux configuration.
  EXPECT_EQ(ReadProcStatus(1 << 30).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ReadStartTicks, NamesOneProcessAcrossPidReuse) {
  absl::StatusOr<int64_t> self = ReadStartTicks(0);
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_EQ(*ReadStartTicks(getpid()), *self);
  // A process started later started no earlier.
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  absl::StatusOr<int64_t> later = ReadStartTicks(child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_GE(*later, *self);
  EXPECT_EQ(ReadStartTicks(child).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(RegisterProcessMetrics, FillsGaugesAtScrape) {
  Registry r;
  RegisterProcessMetrics(&r);
  std::string text = r.Exposition();
  for (const char* name :
       {"cradle_process_resident_memory_bytes", "cradle_process_open_fds",
        "cradle_process_threads", "cradle_process_start_time_seconds"}) {
    EXPECT_THAT(text, ::testing::HasSubstr(name));
  }
  Gauge* rss = r.AddGauge("cradle_process_resident_memory_bytes",
                          "Resident memory of cradled (VmRSS).", {});
  EXPECT_GT(rss->Value(), 0);
  EXPECT_GE(r.AddGauge("cradle_process_open_fds", "", {})->Value(), 3);
  EXPECT_GE(r.AddGauge("cradle_process_threads", "", {})->Value(), 1);
  double start =
      r.AddGauge("cradle_process_start_time_seconds", "", {})->Value();
  EXPECT_GT(start, 1.6e9);
  EXPECT_LE(start, absl::ToUnixSeconds(absl::Now()) + 1);
}

}  // namespace
}  // namespace cradle::metrics
