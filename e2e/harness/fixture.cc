#include "e2e/harness/fixture.h"

#include <iostream>

#include "absl/strings/str_cat.h"

namespace cradle::e2e {

std::unique_ptr<Registry> CradleTest::registry_;
std::unique_ptr<TestImages> CradleTest::images_;

void CradleTest::SetUpTestSuite() {
  absl::StatusOr<std::unique_ptr<Registry>> registry = Registry::Start();
  ASSERT_TRUE(registry.ok()) << registry.status();
  registry_ = *std::move(registry);
  absl::StatusOr<TestImages> images = PushTestImages(*registry_);
  ASSERT_TRUE(images.ok()) << images.status();
  images_ = std::make_unique<TestImages>(*std::move(images));
}

void CradleTest::TearDownTestSuite() {
  images_.reset();
  registry_.reset();
}

std::string CradleTest::ExtraConfig() {
  if (registry_ == nullptr) return "";
  return absl::StrCat("[registry]\nplain_http = [\"", registry_->host(),
                      "\"]\n");
}

void CradleTest::SetUp() {
  ASSERT_NE(registry_, nullptr) << "the suite's registry did not start";
  absl::StatusOr<std::unique_ptr<Daemon>> daemon =
      Daemon::Start({ExtraConfig()});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  daemon_ = *std::move(daemon);
}

void CradleTest::TearDown() {
  if (daemon_ != nullptr && HasFailure()) {
    std::string log = daemon_->Log();
    if (log.size() > 8000) log = log.substr(log.size() - 8000);
    std::cerr << "cradled log (tail):\n" << log << "\n";
  }
  daemon_.reset();
}

}  // namespace cradle::e2e
