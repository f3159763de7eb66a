// The conformance suite every Snapshotter (that also offers DirectApplier)
// passes through the same test code. An implementation's test instantiates
// it with a factory:
//   INSTANTIATE_TEST_SUITE_P(Overlay, SnapshotterSuite,
//                            ::testing::Values(SnapshotterFactory{"overlay",
//                            fn}));
#ifndef CRADLE_SNAPSHOTS_TESTSUITE_TESTSUITE_H_
#define CRADLE_SNAPSHOTS_TESTSUITE_TESTSUITE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "snapshots/snapshotter.h"
#include "snapshots/testing/tar_builder.h"

namespace cradle {

struct SnapshotterUnderTest {
  std::shared_ptr<void> owner;  // keeps the implementation alive
  Snapshotter* snapshotter = nullptr;
  DirectApplier* applier = nullptr;
};

struct SnapshotterFactory {
  std::string name;
  // Opens (or reopens) the snapshotter rooted at the given directory.
  std::function<absl::StatusOr<SnapshotterUnderTest>(const std::string& root)>
      open;
};

class SnapshotterSuite : public ::testing::TestWithParam<SnapshotterFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;
  void Reopen();
  // Prepare, apply a layer of `entries`, commit as `name`.
  void Layer(const std::string& name, const std::string& parent,
             const std::vector<testing::TarEntry>& entries);

  Snapshotter& snapshotter() { return *s_.snapshotter; }
  std::string dir_;
  SnapshotterUnderTest s_;
};

}  // namespace cradle

#endif  // CRADLE_SNAPSHOTS_TESTSUITE_TESTSUITE_H_
