// Both drivers of the local snapshotter run the conformance suite.
#include "snapshots/local/snapshotter.h"

#include "snapshots/testsuite/testsuite.h"

namespace cradle {
namespace {

SnapshotterFactory Factory(const std::string& name, SnapshotDriver driver) {
  return {name,
          [driver](
              const std::string& root) -> absl::StatusOr<SnapshotterUnderTest> {
            absl::StatusOr<std::unique_ptr<LocalSnapshotter>> s =
                OpenLocalSnapshotter(root, driver);
            if (!s.ok()) return s.status();
            std::shared_ptr<LocalSnapshotter> shared = std::move(*s);
            return SnapshotterUnderTest{shared, shared.get(), shared.get()};
          }};
}

INSTANTIATE_TEST_SUITE_P(
    Drivers, SnapshotterSuite,
    ::testing::Values(Factory("overlay", SnapshotDriver::kOverlay),
                      Factory("native", SnapshotDriver::kNative)),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace cradle
