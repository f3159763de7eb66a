#include "cgroups/stats.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "cgroups/testing/fake_tree.h"
#include "gtest/gtest.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

TEST_F(FakeCgroupTree, ReadsV1Controllers) {
  Write("/cpuacct/cradle/c1/cpuacct.usage", "123456789\n");
  Write("/memory/cradle/c1/memory.usage_in_bytes", "10000\n");
  Write("/memory/cradle/c1/memory.limit_in_bytes", "9223372036854771712\n");
  Write("/memory/cradle/c1/memory.stat",
        "cache 5\nrss 1\ntotal_rss 4096\ntotal_inactive_file 3000\n"
        "total_pgfault 77\ntotal_pgmajfault 2\n");
  Write("/pids/cradle/c1/pids.current", "3\n");
  CgroupReader reader(root_, /*unified=*/false);
  absl::StatusOr<CgroupStats> s = reader.Read("/cradle/c1");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->cpu_usage_ns, 123456789u);
  EXPECT_EQ(s->memory_usage, 10000u);
  EXPECT_EQ(s->working_set, 7000u);
  EXPECT_EQ(s->rss, 4096u);
  EXPECT_EQ(s->page_faults, 77u);
  EXPECT_EQ(s->major_page_faults, 2u);
  EXPECT_FALSE(s->memory_limit.has_value()) << "v1's huge limit is none";
  EXPECT_EQ(s->pids, 3u);

  Write("/memory/cradle/c1/memory.limit_in_bytes", "16777216\n");
  EXPECT_EQ(reader.Read("/cradle/c1")->memory_limit, 16777216u);
  EXPECT_EQ(reader.Read("/cradle/gone").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FakeCgroupTree, ReadsV2Files) {
  Write("/kubepods/c2/cpu.stat", "usage_usec 1500\nuser_usec 1000\n");
  Write("/kubepods/c2/memory.current", "8192\n");
  Write("/kubepods/c2/memory.max", "max\n");
  Write("/kubepods/c2/memory.stat",
        "anon 4096\ninactive_file 10000\npgfault 9\npgmajfault 1\n");
  Write("/kubepods/c2/pids.current", "2\n");
  CgroupReader reader(root_, /*unified=*/true);
  absl::StatusOr<CgroupStats> s = reader.Read("kubepods/c2");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->cpu_usage_ns, 1500000u);
  EXPECT_EQ(s->memory_usage, 8192u);
  EXPECT_EQ(s->working_set, 0u) << "clamped, never negative";
  EXPECT_EQ(s->rss, 4096u);
  EXPECT_EQ(s->page_faults, 9u);
  EXPECT_FALSE(s->memory_limit.has_value());
  EXPECT_EQ(s->pids, 2u);
}

// A removed container's bundle gives "" for its cgroupsPath; read as a
// directory that is the root, whose files exist and are the host's.
TEST_F(FakeCgroupTree, TheRootCgroupIsNeverRead) {
  Write("/memory/memory.usage_in_bytes", "999999\n");
  Write("/memory.current", "999999\n");
  for (bool unified : {false, true}) {
    CgroupReader reader(root_, unified);
    for (const char* path : {"", "/", "//", "/.", "./"}) {
      EXPECT_EQ(reader.Read(path).status().code(), absl::StatusCode::kNotFound)
          << "\"" << path << "\" unified=" << unified;
    }
  }
}

TEST(CgroupDirectory, BelowRootStartsWithASlash) {
  EXPECT_EQ(*CgroupReader::DirectoryBelowRoot("kubepods/c2"), "/kubepods/c2");
  EXPECT_EQ(*CgroupReader::DirectoryBelowRoot("/kubepods/c2"), "/kubepods/c2");
  EXPECT_EQ(*CgroupReader::DirectoryBelowRoot(":cradle:x"),
            "/system.slice/cradle-x.scope");
  EXPECT_EQ(CgroupReader::DirectoryBelowRoot("").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(CgroupReader::DirectoryBelowRoot("/").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(CgroupDirectory, SystemdPathsNestTheirSlices) {
  EXPECT_EQ(CgroupReader::Directory("kubepods-burstable.slice:cradle:abc"),
            "/kubepods.slice/kubepods-burstable.slice/cradle-abc.scope");
  EXPECT_EQ(CgroupReader::Directory("system.slice:cradle:x"),
            "/system.slice/cradle-x.scope");
  EXPECT_EQ(CgroupReader::Directory("/cradle/x"), "/cradle/x");
}

// This host, for real: its root cgroup exists, and is refused rather than
// read as a container's.
TEST(HostCgroups, TheRootCgroupIsRefused) {
  CgroupReader reader = CgroupReader::ForHost();
  EXPECT_EQ(reader.root(), "/sys/fs/cgroup");
  EXPECT_EQ(reader.Read("/").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reader.Read("").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace cradle
