// The end-to-end test fixture: one registry with the test images for the
// whole suite, a fresh cradled for every test, everything torn down even
// when a test fails.
#ifndef CRADLE_E2E_HARNESS_FIXTURE_H_
#define CRADLE_E2E_HARNESS_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>

#include "e2e/harness/daemon.h"
#include "e2e/harness/registry.h"

namespace cradle::e2e {

class CradleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;
  void TearDown() override;

  // Config appended for this test's daemon; override to add more.
  virtual std::string ExtraConfig();

  static Registry& registry() { return *registry_; }
  static const TestImages& images() { return *images_; }
  Daemon& daemon() { return *daemon_; }

 private:
  static std::unique_ptr<Registry> registry_;
  static std::unique_ptr<TestImages> images_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace cradle::e2e

#endif  // CRADLE_E2E_HARNESS_FIXTURE_H_
