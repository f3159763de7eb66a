#include "metadata/migrations.h"

#include <gtest/gtest.h>
#include <leveldb/db.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "metadata/keys.h"
#include "metadata/leveldb_store.h"

namespace cradle::metadata_migrations {
namespace {

namespace keys = metadata_keys;
using Code = absl::StatusCode;

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        getenv("TEST_TMPDIR"), "/mig-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    OpenDb();
  }
  void OpenDb() {
    db_.reset();
    leveldb::Options options;
    options.create_if_missing = true;
    leveldb::DB* raw = nullptr;
    ASSERT_TRUE(leveldb::DB::Open(options, dir_ + "/meta.ldb", &raw).ok());
    db_.reset(raw);
  }
  std::string Read(const std::string& key) {
    std::string value;
    leveldb::Status s = db_->Get(leveldb::ReadOptions(), key, &value);
    return s.ok() ? value : "<" + s.ToString() + ">";
  }
  void Write(const std::string& key, const std::string& value) {
    ASSERT_TRUE(db_->Put(leveldb::WriteOptions(), key, value).ok());
  }
  // A test-only step 1 -> 2 that renames "old" to "new".
  static Migration Rename() {
    return {1, "rename old to new",
            [](leveldb::DB* db, leveldb::WriteBatch* batch) {
              std::string v;
              if (!db->Get(leveldb::ReadOptions(), "old", &v).ok())
                return absl::OkStatus();
              batch->Delete("old");
              batch->Put("new", v);
              return absl::OkStatus();
            }};
  }
  std::string dir_;
  std::unique_ptr<leveldb::DB> db_;
};

// The key layout is the on-disk format: these strings must not change
// without a schema version bump and a migration.
TEST(KeysTest, LayoutIsPinned) {
  EXPECT_EQ(keys::kSchemaVersion, 1);
  EXPECT_EQ(std::string(keys::kVersionKey), "v1/version");
  EXPECT_EQ(keys::Image("k8s.io", "docker.io/library/busybox:1"),
            "v1/ns/k8s.io/images/docker.io/library/busybox:1");
  EXPECT_EQ(keys::Record("k8s.io", keys::kContainers, "c1"),
            "v1/ns/k8s.io/containers/c1");
  EXPECT_EQ(keys::Snapshot("k8s.io", "overlayfs", "k"),
            "v1/ns/k8s.io/snapshots/overlayfs/k");
  EXPECT_EQ(keys::LeaseResource("k8s.io", "l1", "content", "sha256:ab"),
            "v1/ns/k8s.io/lease-resources/l1/content/sha256:ab");
  EXPECT_EQ(keys::ContentOwner("sha256:ab", "k8s.io"),
            "v1/idx/content/sha256:ab/k8s.io");
  EXPECT_FALSE(keys::ValidateComponent("id", "a/b").ok());
  EXPECT_FALSE(keys::ValidateComponent("id", "").ok());
  EXPECT_TRUE(keys::ValidateComponent("id", "k8s.io").ok());
}

TEST(ProductionMigrations, AreOrderedAndReachTheCurrentVersion) {
  std::vector<Migration> list = Migrations();
  for (size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(list[i].from_version, static_cast<int>(i) + 1);
    EXPECT_FALSE(list[i].description.empty());
  }
  EXPECT_EQ(static_cast<int>(list.size()) + 1, keys::kSchemaVersion);
}

TEST_F(MigrationsTest, NewDatabaseGetsTheTargetVersion) {
  ASSERT_TRUE(Migrate(db_.get(), {}, 1).ok());
  EXPECT_EQ(Read(keys::kVersionKey), "1");
}

TEST_F(MigrationsTest, StepsRunInOrderAndBumpTheVersion) {
  Write(keys::kVersionKey, "1");
  Write("old", "value");
  Migration second = {2, "add marker",
                      [](leveldb::DB*, leveldb::WriteBatch* batch) {
                        batch->Put("marker", "2->3");
                        return absl::OkStatus();
                      }};
  ASSERT_TRUE(Migrate(db_.get(), {second, Rename()}, 3).ok());
  EXPECT_EQ(Read(keys::kVersionKey), "3");
  EXPECT_EQ(Read("new"), "value");
  EXPECT_EQ(Read("marker"), "2->3");
  EXPECT_NE(Read("old"), "value");
  // Idempotent once there.
  ASSERT_TRUE(Migrate(db_.get(), {second, Rename()}, 3).ok());
}

TEST_F(MigrationsTest, FailedStepChangesNothing) {
  Write(keys::kVersionKey, "1");
  Write("old", "value");
  Migration broken = {2, "broken", [](leveldb::DB*, leveldb::WriteBatch* b) {
                        b->Put("half", "done");
                        return absl::InternalError("boom");
                      }};
  absl::Status s = Migrate(db_.get(), {Rename(), broken}, 3);
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_NE(std::string(s.message()).find("broken"), std::string::npos) << s;
  // Step 1 -> 2 committed on its own; step 2 -> 3 left no trace.
  EXPECT_EQ(Read(keys::kVersionKey), "2");
  EXPECT_EQ(Read("new"), "value");
  EXPECT_NE(Read("half"), "done");
}

TEST_F(MigrationsTest, MissingStepAndNewerDatabaseAreRefused) {
  Write(keys::kVersionKey, "1");
  EXPECT_EQ(Migrate(db_.get(), {}, 2).code(), Code::kInternal);
  Write(keys::kVersionKey, "7");
  EXPECT_EQ(Migrate(db_.get(), {}, 2).code(), Code::kFailedPrecondition);
  Write(keys::kVersionKey, "garbage");
  EXPECT_EQ(Migrate(db_.get(), {}, 2).code(), Code::kDataLoss);
}

TEST_F(MigrationsTest, OpenRefusesANewerSchema) {
  Write(keys::kVersionKey, "99");
  db_.reset();
  absl::StatusOr<std::unique_ptr<MetadataStore>> s = OpenMetadataStore(dir_);
  EXPECT_EQ(s.status().code(), Code::kFailedPrecondition) << s.status();
}

}  // namespace
}  // namespace cradle::metadata_migrations
