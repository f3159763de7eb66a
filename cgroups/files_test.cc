#include "cgroups/files.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace cradle::cgroups {
namespace {

namespace fs = std::filesystem;

TEST(CgroupFiles, MissingOrOddFilesReadAsNothing) {
  char tmpl[] = "/tmp/cgroup-files-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::ofstream(dir + "/n") << " 4096\n";
  std::ofstream(dir + "/max") << "max\n";
  std::ofstream(dir + "/stat")
      << "anon 7\nodd line here\nfile x\n\npgfault 9\n";
  EXPECT_EQ(ReadNumber(dir + "/n"), 4096u);
  EXPECT_FALSE(ReadNumber(dir + "/max").has_value()) << "v2's unlimited";
  EXPECT_FALSE(ReadNumber(dir + "/gone").has_value());
  std::map<std::string, uint64_t> stat = ReadKeyed(dir + "/stat");
  EXPECT_EQ(stat.size(), 2u);
  EXPECT_EQ(Get(stat, "anon"), 7u);
  EXPECT_EQ(Get(stat, "pgfault"), 9u);
  EXPECT_EQ(Get(stat, "file"), 0u);
  EXPECT_TRUE(ReadKeyed(dir + "/gone").empty());
  EXPECT_TRUE(IsDirectory(dir));
  EXPECT_FALSE(IsDirectory(dir + "/n"));
  EXPECT_FALSE(IsDirectory(dir + "/gone"));
  fs::remove_all(dir);
}

TEST(SliceDirectory, EachDashNests) {
  EXPECT_EQ(SliceDirectory("kubepods-burstable-pod1.slice"),
            "/kubepods.slice/kubepods-burstable.slice/"
            "kubepods-burstable-pod1.slice");
  EXPECT_EQ(SliceDirectory("system.slice"), "/system.slice");
  EXPECT_EQ(SliceDirectory("system"), "/system.slice");
}

}  // namespace
}  // namespace cradle::cgroups
