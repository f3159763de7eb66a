#include "cgroups/resources.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "cgroups/testing/fake_tree.h"
#include "gtest/gtest.h"
#include "lite/files.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

using FakeHierarchy = FakeCgroupTree;

CgroupLimits Everything() {
  CgroupLimits l;
  l.cpu_shares = 512;
  l.cpu_period_us = 100000;
  l.cpu_quota_us = 50000;
  l.memory_limit = 64 << 20;
  l.cpuset_cpus = "0-1";
  l.cpuset_mems = "0";
  l.hugepage_limits["2MB"] = 4 << 20;
  return l;
}

TEST_F(FakeHierarchy, WritesEachV1Controller) {
  const std::string pod = "/kubepods/burstable/pod1";
  for (const char* f :
       {"/cpu/P/cpu.shares", "/cpu/P/cpu.cfs_period_us",
        "/cpu/P/cpu.cfs_quota_us", "/memory/P/memory.limit_in_bytes",
        "/cpuset/P/cpuset.cpus", "/cpuset/P/cpuset.mems",
        "/hugetlb/P/hugetlb.2MB.limit_in_bytes"}) {
    std::string path = f;
    path.replace(path.find("/P/"), 3, pod + "/");
    Write(path);
  }
  // A sibling pod's cgroup, which must stay as it is.
  Write("/memory/kubepods/burstable/pod2/memory.limit_in_bytes", "1\n");
  ASSERT_TRUE(WriteCgroupLimits(root_, false, pod, Everything()).ok());
  EXPECT_EQ(Read("/cpu" + pod + "/cpu.shares"), "512");
  EXPECT_EQ(Read("/cpu" + pod + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(Read("/cpu" + pod + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(Read("/memory" + pod + "/memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(Read("/cpuset" + pod + "/cpuset.cpus"), "0-1");
  EXPECT_EQ(Read("/cpuset" + pod + "/cpuset.mems"), "0");
  EXPECT_EQ(Read("/hugetlb" + pod + "/hugetlb.2MB.limit_in_bytes"), "4194304");
  EXPECT_EQ(Read("/memory/kubepods/burstable/pod2/memory.limit_in_bytes"),
            "1\n");

  // Unset fields leave the files alone.
  CgroupLimits only_memory;
  only_memory.memory_limit = -1;
  ASSERT_TRUE(WriteCgroupLimits(root_, false, pod, only_memory).ok());
  EXPECT_EQ(Read("/memory" + pod + "/memory.limit_in_bytes"), "-1");
  EXPECT_EQ(Read("/cpu" + pod + "/cpu.shares"), "512");
}

TEST_F(FakeHierarchy, WritesV2Equivalents) {
  const std::string pod = "/kubepods/pod1";
  for (const char* f : {"cpu.weight", "cpu.max", "memory.max", "cpuset.cpus",
                        "cpuset.mems", "hugetlb.2MB.max"}) {
    Write(pod + "/" + f);
  }
  std::ofstream(root_ + pod + "/cpu.max") << "max 100000\n";
  ASSERT_TRUE(WriteCgroupLimits(root_, true, pod, Everything()).ok());
  EXPECT_EQ(Read(pod + "/cpu.weight"), std::to_string(SharesToWeight(512)));
  EXPECT_EQ(Read(pod + "/cpu.max"), "50000 100000");
  EXPECT_EQ(Read(pod + "/memory.max"), "67108864");
  EXPECT_EQ(Read(pod + "/cpuset.cpus"), "0-1");
  EXPECT_EQ(Read(pod + "/hugetlb.2MB.max"), "4194304");

  // A quota alone keeps the period cpu.max has.
  std::ofstream(root_ + pod + "/cpu.max") << "max 50000\n";
  CgroupLimits quota;
  quota.cpu_quota_us = 25000;
  ASSERT_TRUE(WriteCgroupLimits(root_, true, pod, quota).ok());
  EXPECT_EQ(Read(pod + "/cpu.max"), "25000 50000");
  CgroupLimits unlimited;
  unlimited.cpu_quota_us = -1;
  unlimited.memory_limit = -1;
  ASSERT_TRUE(WriteCgroupLimits(root_, true, pod, unlimited).ok());
  EXPECT_EQ(Read(pod + "/cpu.max"), "max 50000");
  EXPECT_EQ(Read(pod + "/memory.max"), "max");
}

TEST_F(FakeHierarchy, AMissingCgroupIsAFailedPreconditionNotCreated) {
  CgroupLimits l;
  l.memory_limit = 1 << 20;
  absl::Status s = WriteCgroupLimits(root_, false, "/kubepods/nope", l);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("memory controller"), std::string::npos) << s;
  EXPECT_FALSE(fs::exists(root_ + "/memory/kubepods/nope"));
}

TEST(CgroupLimits, NonsenseIsRejected) {
  auto invalid = [](CgroupLimits l, const char* field) {
    absl::Status s = ValidateCgroupLimits(l);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(s.message().find(field), std::string::npos) << s;
  };
  CgroupLimits l;
  l.cpu_shares = 1;
  invalid(l, "cpu_shares");
  l = {};
  l.cpu_period_us = 10;
  invalid(l, "cpu_period");
  l = {};
  l.cpu_quota_us = -5;
  invalid(l, "cpu_quota");
  l = {};
  l.memory_limit = -7;
  invalid(l, "memory_limit_in_bytes");
  l = {};
  l.cpuset_cpus = "0-1\n/../x";
  invalid(l, "cpuset_cpus");
  l = {};
  l.cpuset_mems = "3-1";
  invalid(l, "cpuset_mems");
  for (const char* bad : {"0-1\n", " 0", "0,", "1-2-3", "+1"}) {
    l = {};
    l.cpuset_cpus = bad;
    invalid(l, "cpuset_cpus");
  }
  l = {};
  l.hugepage_limits["2 MB"] = 1;
  invalid(l, "page_size");
  l = {};
  l.hugepage_limits["../../memory.limit_in"] = 1;
  invalid(l, "page_size");
  EXPECT_TRUE(ValidateCgroupLimits(Everything()).ok());
}

TEST(PodCgroupDirectory, NamesOnlyAPodsOwnCgroup) {
  EXPECT_EQ(*PodCgroupDirectory("/kubepods/burstable/pod1", false),
            "/kubepods/burstable/pod1");
  EXPECT_EQ(*PodCgroupDirectory("kubepods/pod1/", false), "/kubepods/pod1");
  EXPECT_EQ(*PodCgroupDirectory("kubepods-burstable-pod1.slice", true),
            "/kubepods.slice/kubepods-burstable.slice/"
            "kubepods-burstable-pod1.slice");
  for (const char* bad : {"", "/", "//", "/kubepods/../etc"}) {
    EXPECT_EQ(PodCgroupDirectory(bad, false).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  for (const char* bad :
       {"-.slice", "kubepods", "a--b.slice", "a/b.slice", "-a.slice"}) {
    EXPECT_EQ(PodCgroupDirectory(bad, true).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace cradle
