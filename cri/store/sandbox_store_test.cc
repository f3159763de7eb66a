#include "cri/store/sandbox_store.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace cradle {
namespace {

PodRecord Make(const std::string& id, const std::string& name,
               uint32_t attempt = 0) {
  PodRecord r;
  r.id = id;
  r.name = name;
  r.pod_namespace = "default";
  r.uid = "uid-" + name;
  r.attempt = attempt;
  r.state = PodState::kReady;
  r.config = std::string("\0binary\xff", 8);
  r.labels = {{"app", name}};
  r.ips = {"10.88.0.2"};
  return r;
}

TEST(SandboxStoreTest, ReservesNamesResolvesPrefixesAndPersists) {
  std::string dir = std::string(getenv("TEST_TMPDIR")) + "/sandboxes";
  std::filesystem::remove_all(dir);
  {
    auto store = SandboxStore::Open(dir);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Add(Make("abc123", "web")).ok());
    ASSERT_TRUE((*store)->Add(Make("abd456", "db")).ok());
    EXPECT_EQ((*store)->Add(Make("zzz", "web")).code(),
              absl::StatusCode::kAlreadyExists);
    EXPECT_TRUE((*store)->Add(Make("zzz", "web", 1)).ok())
        << "a new attempt is a new name";
    EXPECT_EQ((*store)->Get("abc")->name, "web");
    EXPECT_EQ((*store)->Get("ab").status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ((*store)->Get("nope").status().code(),
              absl::StatusCode::kNotFound);
    PodRecord r = *(*store)->Get("abd456");
    r.state = PodState::kNotReady;
    ASSERT_TRUE((*store)->Update(r).ok());
  }
  auto reopened = SandboxStore::Open(dir);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->List().size(), 3u);
  PodRecord db = *(*reopened)->Get("abd456");
  EXPECT_FALSE(db.ready());
  EXPECT_EQ(db.config, std::string("\0binary\xff", 8));
  EXPECT_EQ(db.labels.at("app"), "db");
  EXPECT_EQ((*reopened)->Add(Make("other", "web")).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE((*reopened)->Remove("abc123").ok());
  EXPECT_TRUE((*reopened)->Add(Make("other", "web")).ok())
      << "removal frees the name";
  EXPECT_TRUE((*reopened)->Remove("abc123").ok());
}

}  // namespace
}  // namespace cradle
