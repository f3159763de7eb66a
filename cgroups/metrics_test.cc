#include "cgroups/metrics.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cgroups/testing/fake_tree.h"
#include "gtest/gtest.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

class FakeCgroupMetrics : public FakeCgroupTree {
 protected:
  // A fake /proc/<pid>/fd with `files` plain files and `sockets` sockets.
  void FakeProcess(int pid, int files, int sockets) {
    std::string fd = root_ + "/proc/" + std::to_string(pid) + "/fd";
    fs::create_directories(fd);
    int n = 0;
    for (int i = 0; i < files; ++i) {
      fs::create_symlink("/dev/null", fd + "/" + std::to_string(n++));
    }
    for (int i = 0; i < sockets; ++i) {
      fs::create_symlink("socket:[4242]", fd + "/" + std::to_string(n++));
    }
  }
};

TEST(ParsePsi, ReadsSomeAndFull) {
  std::optional<Psi> psi = ParsePsi(
      "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n"
      "full avg10=0.10 avg60=0.00 avg300=0.00 total=789\n");
  ASSERT_TRUE(psi.has_value());
  EXPECT_EQ(psi->some.total_us, 123456u);
  EXPECT_DOUBLE_EQ(psi->some.avg10, 1.5);
  EXPECT_DOUBLE_EQ(psi->some.avg60, 0.25);
  EXPECT_EQ(psi->full.total_us, 789u);
  EXPECT_DOUBLE_EQ(psi->full.avg10, 0.1);
  EXPECT_FALSE(ParsePsi("").has_value()) << "PSI off: the file is empty";
  EXPECT_FALSE(ParsePsi("garbage\n").has_value());
}

TEST_F(FakeCgroupMetrics, ReadsV1Controllers) {
  const std::string c = "/kubepods/pod1/c1";
  Write("/cpuacct" + c + "/cpuacct.usage", "3000000000\n");
  Write("/cpuacct" + c + "/cpuacct.stat", "user 150\nsystem 50\n");
  Write("/cpu" + c + "/cpu.stat",
        "nr_periods 10\nnr_throttled 4\nthrottled_time 2500000000\n");
  Write("/cpu" + c + "/cpu.cfs_period_us", "100000\n");
  Write("/cpu" + c + "/cpu.cfs_quota_us", "-1\n");
  Write("/cpu" + c + "/cpu.shares", "512\n");
  Write("/memory" + c + "/memory.usage_in_bytes", "10000\n");
  Write("/memory" + c + "/memory.max_usage_in_bytes", "20000\n");
  Write("/memory" + c + "/memory.limit_in_bytes", "9223372036854771712\n");
  Write("/memory" + c + "/memory.failcnt", "7\n");
  Write("/memory" + c + "/memory.kmem.usage_in_bytes", "300\n");
  Write("/memory" + c + "/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  Write("/memory" + c + "/memory.stat",
        "cache 1\nrss 1\ntotal_cache 5000\ntotal_rss 4096\n"
        "total_mapped_file 100\ntotal_swap 8\ntotal_active_file 2000\n"
        "total_inactive_file 3000\ntotal_pgfault 77\ntotal_pgmajfault 2\n");
  Write("/pids" + c + "/pids.current", "3\n");
  Write("/pids" + c + "/pids.max", "max\n");
  Write("/pids" + c + "/cgroup.procs", "11\n");
  Write("/pids" + c + "/child/cgroup.procs", "12\n");  // counted too
  FakeProcess(11, 3, 1);
  FakeProcess(12, 1, 0);

  absl::StatusOr<CgroupMetrics> m =
      ReadCgroupMetrics(root_, /*unified=*/false, c, root_ + "/proc");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->cpu_usage_ns, 3000000000u);
  long hz = sysconf(_SC_CLK_TCK);
  EXPECT_EQ(m->cpu_user_ns, 150u * (1000000000u / hz));
  EXPECT_EQ(m->cpu_system_ns, 50u * (1000000000u / hz));
  EXPECT_EQ(m->cfs_periods, 10u);
  EXPECT_EQ(m->cfs_throttled_periods, 4u);
  EXPECT_EQ(m->cfs_throttled_ns, 2500000000u);
  EXPECT_EQ(m->cpu_period_us, 100000u);
  EXPECT_EQ(m->cpu_quota_us, -1);
  EXPECT_EQ(m->cpu_shares, 512u);
  EXPECT_EQ(m->memory_usage, 10000u);
  EXPECT_EQ(m->memory_max_usage, 20000u);
  EXPECT_EQ(m->working_set, 7000u);
  EXPECT_EQ(m->rss, 4096u);
  EXPECT_EQ(m->cache, 5000u);
  EXPECT_EQ(m->mapped_file, 100u);
  EXPECT_EQ(m->swap, 8u);
  EXPECT_EQ(m->kernel, 300u);
  EXPECT_EQ(m->active_file, 2000u);
  EXPECT_EQ(m->inactive_file, 3000u);
  EXPECT_EQ(m->page_faults, 77u);
  EXPECT_EQ(m->major_page_faults, 2u);
  EXPECT_EQ(m->failcnt, 7u);
  EXPECT_EQ(m->oom_kills, 2u);
  EXPECT_FALSE(m->memory_limit.has_value()) << "v1's huge limit is none";
  EXPECT_EQ(m->processes, 2u);
  EXPECT_EQ(m->threads, 3u);
  EXPECT_FALSE(m->threads_max.has_value());
  EXPECT_EQ(m->file_descriptors, 5u);
  EXPECT_EQ(m->sockets, 1u);
  EXPECT_FALSE(m->cpu_psi.has_value()) << "v1 has no pressure files";

  EXPECT_EQ(ReadCgroupMetrics(root_, false, "/kubepods/gone").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FakeCgroupMetrics, ReadsV2FilesAndPressure) {
  const std::string c = "/kubepods/pod1/c1";
  Write(c + "/cpu.stat",
        "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\n"
        "nr_periods 9\nnr_throttled 3\nthrottled_usec 1000\n");
  Write(c + "/cpu.max", "50000 100000\n");
  Write(c + "/cpu.weight", "39\n");
  Write(c + "/memory.current", "8192\n");
  Write(c + "/memory.peak", "9000\n");
  Write(c + "/memory.max", "max\n");
  Write(c + "/memory.swap.current", "16\n");
  Write(c + "/memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
  Write(c + "/memory.stat",
        "anon 4096\nfile 2048\nkernel 64\nfile_mapped 32\n"
        "active_file 1024\ninactive_file 1000\npgfault 9\npgmajfault 1\n");
  Write(c + "/pids.current", "2\n");
  Write(c + "/pids.max", "64\n");
  Write(c + "/cgroup.procs", "21\n");
  Write(c + "/cpu.pressure",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=5000\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=2000\n");
  Write(c + "/memory.pressure",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=300\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=100\n");
  Write(c + "/io.pressure",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=40\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=20\n");
  FakeProcess(21, 2, 2);

  absl::StatusOr<CgroupMetrics> m =
      ReadCgroupMetrics(root_, /*unified=*/true, c, root_ + "/proc");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->cpu_usage_ns, 2000000000u);
  EXPECT_EQ(m->cpu_user_ns, 1500000000u);
  EXPECT_EQ(m->cpu_system_ns, 500000000u);
  EXPECT_EQ(m->cfs_throttled_ns, 1000000u);
  EXPECT_EQ(m->cpu_quota_us, 50000);
  EXPECT_EQ(m->cpu_period_us, 100000u);
  EXPECT_NEAR(static_cast<double>(m->cpu_shares), 1024, 30)
      << "weight 39 is what runc makes of the default 1024 shares";
  EXPECT_EQ(m->memory_usage, 8192u);
  EXPECT_EQ(m->memory_max_usage, 9000u);
  EXPECT_EQ(m->working_set, 7192u);
  EXPECT_EQ(m->rss, 4096u);
  EXPECT_EQ(m->cache, 2048u);
  EXPECT_EQ(m->swap, 16u);
  EXPECT_EQ(m->oom_kills, 1u);
  EXPECT_FALSE(m->memory_limit.has_value());
  EXPECT_EQ(m->processes, 1u);
  EXPECT_EQ(m->threads, 2u);
  EXPECT_EQ(m->threads_max, 64u);
  EXPECT_EQ(m->file_descriptors, 4u);
  EXPECT_EQ(m->sockets, 2u);
  ASSERT_TRUE(m->cpu_psi.has_value());
  EXPECT_EQ(m->cpu_psi->some.total_us, 5000u);
  EXPECT_EQ(m->cpu_psi->full.total_us, 2000u);
  ASSERT_TRUE(m->memory_psi.has_value());
  EXPECT_EQ(m->memory_psi->full.total_us, 100u);
  ASSERT_TRUE(m->io_psi.has_value());
  EXPECT_EQ(m->io_psi->some.total_us, 40u);

  CgroupPressure p = ReadCgroupPressure(root_, true, c);
  ASSERT_TRUE(p.cpu.has_value());
  EXPECT_EQ(p.cpu->full.total_us, 2000u);
  ASSERT_TRUE(p.io.has_value());
  EXPECT_EQ(p.io->full.total_us, 20u);
  EXPECT_FALSE(ReadCgroupPressure(root_, false, c).cpu.has_value())
      << "v1 cgroups have no pressure files";
}

// "" is a removed container's cgroupsPath (its bundle is gone). Read as a
// directory it would be the root: the host's usage, and a walk of every
// cgroup and every process's open files.
TEST_F(FakeCgroupMetrics, TheRootCgroupIsNotFound) {
  Write("/memory/memory.usage_in_bytes", "999999\n");
  Write("/memory/cgroup.procs", "31\n");
  Write("/memory.current", "999999\n");
  Write("/cgroup.procs", "31\n");
  Write("/cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n");
  FakeProcess(31, 1, 0);
  for (bool unified : {false, true}) {
    for (const char* path : {"", "/", "//"}) {
      EXPECT_EQ(ReadCgroupMetrics(root_, unified, path, root_ + "/proc")
                    .status()
                    .code(),
                absl::StatusCode::kNotFound)
          << "\"" << path << "\" unified=" << unified;
      EXPECT_FALSE(ReadCgroupPressure(root_, unified, path).cpu.has_value())
          << "\"" << path << "\" unified=" << unified;
    }
  }
}

}  // namespace
}  // namespace cradle
