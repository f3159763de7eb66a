// A task's metric read from a cgroup v1 tree of real files under a temp
// root, decoded as ctr decodes it.
#include "containerd_api/task_metrics.h"

#include <string>

#include "absl/time/time.h"
#include "cgroups/testing/fake_tree.h"
#include "gtest/gtest.h"

namespace cradle::containerd_api {
namespace {

namespace cgv1 = ::io::containerd::cgroups::v1;

// The tree's files are written by FakeCgroupTree (cgroups/testing).
class TaskMetricsTest : public FakeCgroupTree {
 protected:
  // What `ctr tasks metrics` does with the reply's data.
  static cgv1::Metrics Decode(const ::containerd::types::Metric& metric) {
    EXPECT_EQ(metric.data().type_url(), "io.containerd.cgroups.v1.Metrics");
    cgv1::Metrics m;
    EXPECT_TRUE(m.ParseFromString(metric.data().value()));
    return m;
  }
};

// ctr's default cgroupsPath for task m1 in namespace "default".
constexpr char kTask[] = "/default/m1";

TEST_F(TaskMetricsTest, ReadsEveryV1Controller) {
  const std::string c = kTask;
  Write("/cpuacct" + c + "/cpuacct.usage", "3000000000\n");
  Write("/cpuacct" + c + "/cpuacct.stat", "user 150\nsystem 50\n");
  Write("/cpu" + c + "/cpu.stat",
        "nr_periods 10\nnr_throttled 4\nthrottled_time 2500000000\n");
  Write("/memory" + c + "/memory.usage_in_bytes", "10000\n");
  Write("/memory" + c + "/memory.max_usage_in_bytes", "20000\n");
  Write("/memory" + c + "/memory.limit_in_bytes", "67108864\n");
  Write("/memory" + c + "/memory.failcnt", "7\n");
  Write("/memory" + c + "/memory.kmem.usage_in_bytes", "300\n");
  Write("/memory" + c + "/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  Write("/memory" + c + "/memory.stat",
        "cache 5000\nrss 4096\ntotal_cache 5000\ntotal_rss 4096\n"
        "total_mapped_file 100\ntotal_active_file 2000\n"
        "total_inactive_file 3000\ntotal_pgfault 77\ntotal_pgmajfault 2\n");
  Write("/pids" + c + "/pids.current", "3\n");
  Write("/pids" + c + "/pids.max", "100\n");

  absl::Time now = absl::FromUnixSeconds(1700000000);
  absl::StatusOr<::containerd::types::Metric> metric =
      TaskMetric("m1", kTask, CgroupReader(root_, false), now);
  ASSERT_TRUE(metric.ok()) << metric.status();
  EXPECT_EQ(metric->id(), "m1");
  EXPECT_EQ(metric->timestamp().seconds(), 1700000000);
  cgv1::Metrics m = Decode(*metric);

  ASSERT_TRUE(m.has_pids());
  EXPECT_EQ(m.pids().current(), 3u);
  EXPECT_EQ(m.pids().limit(), 100u);

  ASSERT_TRUE(m.has_cpu());
  EXPECT_EQ(m.cpu().usage().total(), 3000000000u);
  long hz = sysconf(_SC_CLK_TCK);
  EXPECT_EQ(m.cpu().usage().user(), 150u * (1000000000u / hz));
  EXPECT_EQ(m.cpu().usage().kernel(), 50u * (1000000000u / hz));
  EXPECT_EQ(m.cpu().throttling().periods(), 10u);
  EXPECT_EQ(m.cpu().throttling().throttled_periods(), 4u);
  EXPECT_EQ(m.cpu().throttling().throttled_time(), 2500000000u);

  ASSERT_TRUE(m.has_memory());
  EXPECT_EQ(m.memory().usage().usage(), 10000u);
  EXPECT_EQ(m.memory().usage().max(), 20000u);
  EXPECT_EQ(m.memory().usage().limit(), 67108864u);
  EXPECT_EQ(m.memory().usage().failcnt(), 7u);
  EXPECT_EQ(m.memory().kernel().usage(), 300u);
  EXPECT_EQ(m.memory().cache(), 5000u);
  EXPECT_EQ(m.memory().total_cache(), 5000u);
  EXPECT_EQ(m.memory().rss(), 4096u);
  EXPECT_EQ(m.memory().total_rss(), 4096u);
  EXPECT_EQ(m.memory().total_mapped_file(), 100u);
  EXPECT_EQ(m.memory().total_inactive_file(), 3000u);
  EXPECT_EQ(m.memory().total_pg_fault(), 77u);
  EXPECT_EQ(m.memory().total_pg_maj_fault(), 2u);
  EXPECT_EQ(m.memory_oom_control().oom_kill(), 2u);
}

TEST_F(TaskMetricsTest, MissingControllersAreLeftOut) {
  // Only memory holds the cgroup: no pids or cpu part, not zeros.
  Write(std::string("/memory") + kTask + "/memory.usage_in_bytes", "4096\n");
  Write(std::string("/memory") + kTask + "/memory.limit_in_bytes",
        "9223372036854771712\n");
  absl::StatusOr<::containerd::types::Metric> metric =
      TaskMetric("m1", kTask, CgroupReader(root_, false), absl::Now());
  ASSERT_TRUE(metric.ok()) << metric.status();
  cgv1::Metrics m = Decode(*metric);
  EXPECT_FALSE(m.has_pids());
  EXPECT_FALSE(m.has_cpu());
  ASSERT_TRUE(m.has_memory());
  EXPECT_EQ(m.memory().usage().usage(), 4096u);
  // No limit reads back as the kernel's "unlimited", as containerd shows it.
  long page = sysconf(_SC_PAGESIZE);
  EXPECT_EQ(m.memory().usage().limit(),
            uint64_t{9223372036854775807u} / page * page);
}

TEST_F(TaskMetricsTest, NoCgroupIsNotFound) {
  Write("/memory/other/memory.usage_in_bytes", "1\n");
  CgroupReader reader(root_, false);
  EXPECT_TRUE(
      absl::IsNotFound(TaskMetric("m1", kTask, reader, absl::Now()).status()));
  // "" is what a bundle without config.json gives: never the root's usage.
  Write("/memory/memory.usage_in_bytes", "1\n");
  EXPECT_TRUE(
      absl::IsNotFound(TaskMetric("m1", "", reader, absl::Now()).status()));
  EXPECT_TRUE(
      absl::IsNotFound(TaskMetric("m1", "/", reader, absl::Now()).status()));
}

TEST_F(TaskMetricsTest, UnifiedHostIsUnimplemented) {
  Write(std::string(kTask) + "/memory.current", "4096\n");
  EXPECT_TRUE(absl::IsUnimplemented(
      TaskMetric("m1", kTask, CgroupReader(root_, true), absl::Now())
          .status()));
}

}  // namespace
}  // namespace cradle::containerd_api
