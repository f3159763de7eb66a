#include "cri/runtime/runtime_handlers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace cradle {
namespace {

using ::testing::HasSubstr;

class RuntimeHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cradle-handlers-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<std::unique_ptr<RuntimeHandlers>> Open(
      const std::vector<std::string>& default_names) {
    // /bin/true stands in for a runtime: only its presence is probed here.
    return RuntimeHandlers::Open(
        {{"fast", "/bin/true", dir_ + "/fast"},
         {"slow", "/bin/true", dir_ + "/slow"},
         {"ghost", "/nonexistent/ghost", dir_ + "/ghost"}},
        default_names, dir_ + "/logs", false);
  }

  std::string dir_;
};

TEST_F(RuntimeHandlersTest, EmptyNameIsTheDefault) {
  auto handlers = Open({"slow"});
  ASSERT_TRUE(handlers.ok()) << handlers.status();
  absl::StatusOr<const RuntimeHandler*> h = (*handlers)->Find("");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)->name, "slow");
  EXPECT_EQ((*h)->root, dir_ + "/slow");
  EXPECT_EQ((*h)->binary, "/bin/true");
  EXPECT_EQ((*(*handlers)->Find("fast"))->name, "fast");
}

TEST_F(RuntimeHandlersTest, UnknownIsNotFoundNamingTheConfiguredOnes) {
  auto handlers = Open({"fast"});
  ASSERT_TRUE(handlers.ok());
  absl::StatusOr<const RuntimeHandler*> h = (*handlers)->Find("kata");
  EXPECT_TRUE(absl::IsNotFound(h.status()));
  EXPECT_THAT(h.status().message(), HasSubstr("\"kata\""));
  EXPECT_THAT(h.status().message(), HasSubstr("fast, ghost, slow"));
}

TEST_F(RuntimeHandlersTest, UninstalledIsConfiguredButUnusable) {
  auto handlers = Open({"fast"});
  ASSERT_TRUE(handlers.ok());
  absl::StatusOr<const RuntimeHandler*> h = (*handlers)->Find("ghost");
  EXPECT_TRUE(absl::IsFailedPrecondition(h.status()));
  EXPECT_THAT(h.status().message(), HasSubstr("/nonexistent/ghost"));
  // A record naming it (or a handler gone from the config) is cleaned up
  // with the default's driver rather than none.
  EXPECT_EQ((*handlers)->ForRecord("ghost").name, "fast");
  EXPECT_EQ((*handlers)->ForRecord("gone").name, "fast");
  EXPECT_NE((*handlers)->ForRecord("ghost").runc, nullptr);
  EXPECT_EQ((*handlers)->All().size(), 3u);
}

TEST_F(RuntimeHandlersTest, TheDefaultMustBeConfiguredAndUsable) {
  EXPECT_TRUE(absl::IsInvalidArgument(Open({"kata"}).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(Open({"ghost"}).status()));
  // Every name in a list must be configured, even after a usable one.
  EXPECT_TRUE(absl::IsInvalidArgument(Open({"fast", "kata"}).status()));
  absl::Status none = Open({"ghost", "ghost"}).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(none));
  EXPECT_THAT(none.message(), HasSubstr("ghost: "));
}

// A record from before handlers names none: its pod ran under runc, so it
// is driven by runc (on runc's root) even when the default is now crun.
TEST_F(RuntimeHandlersTest, ARecordNamingNoHandlerIsRuncsNotTheDefaults) {
  auto handlers =
      RuntimeHandlers::Open({{"crun", "/bin/true", dir_ + "/crun"},
                             {"runc", "/bin/true", dir_ + "/runc"}},
                            {"crun", "runc"}, dir_ + "/logs", false);
  ASSERT_TRUE(handlers.ok()) << handlers.status();
  EXPECT_EQ((*handlers)->Default().name, "crun");
  EXPECT_EQ((*(*handlers)->Find(""))->name, "crun") << "new pods";
  EXPECT_EQ((*handlers)->ForRecord("").name, "runc");
  EXPECT_EQ((*handlers)->ForRecord("").root, dir_ + "/runc");
  // Without a usable runc, the default rather than nothing.
  handlers = Open({"fast"});
  ASSERT_TRUE(handlers.ok()) << handlers.status();
  EXPECT_EQ((*handlers)->ForRecord("").name, "fast");
}

// A list is "the first that is installed": crun where it is, else runc.
TEST_F(RuntimeHandlersTest, TheDefaultIsTheFirstUsableOfAList) {
  auto handlers = Open({"ghost", "slow", "fast"});
  ASSERT_TRUE(handlers.ok()) << handlers.status();
  EXPECT_EQ((*handlers)->default_name(), "slow");
  EXPECT_EQ((*(*handlers)->Find(""))->name, "slow");
  EXPECT_EQ((*handlers)->ForRecord("ghost").name, "slow");
  handlers = Open({"fast", "slow"});
  ASSERT_TRUE(handlers.ok()) << handlers.status();
  EXPECT_EQ((*(*handlers)->Find(""))->name, "fast");
}

}  // namespace
}  // namespace cradle
