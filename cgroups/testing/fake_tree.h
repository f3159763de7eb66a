// A cgroup hierarchy made of plain files under a temporary root, for the
// tests of the cgroup readers and writers.
#ifndef CRADLE_CGROUPS_TESTING_FAKE_TREE_H_
#define CRADLE_CGROUPS_TESTING_FAKE_TREE_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "lite/files.h"

namespace cradle {

class FakeCgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cgroups-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  // Creates `path` below the root, with its parents. Cgroup files exist
  // before they are written, as on the real thing.
  void Write(const std::string& path, const std::string& text = "") {
    std::filesystem::create_directories(
        std::filesystem::path(root_ + path).parent_path());
    std::ofstream(root_ + path) << text;
  }
  std::string Read(const std::string& path) {
    return lite::ReadFileOrEmpty(root_ + path);
  }

  std::string root_;
};

}  // namespace cradle

#endif  // CRADLE_CGROUPS_TESTING_FAKE_TREE_H_
