// Internal to the LevelDB store: schema migrations, applied in order when
// the database is opened. Each step runs in one synced write batch that also
// bumps the version key, so a crash leaves the database at one version or
// the next, never between.
#ifndef CRADLE_METADATA_MIGRATIONS_H_
#define CRADLE_METADATA_MIGRATIONS_H_

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace cradle::metadata_migrations {

struct Migration {
  int from_version;  // upgrades from_version to from_version + 1
  std::string description;
  // Reads `db` as it is and adds its changes to `batch`.
  std::function<absl::Status(leveldb::DB* db, leveldb::WriteBatch* batch)> run;
};

// What this build knows, in order. Empty: version 1 is the first schema.
std::vector<Migration> Migrations();

// Brings `db` to `target` with `migrations`. A database without a version
// key is new and gets `target`. FailedPrecondition when the database is
// newer than `target` (an older cradled must not write it); Internal when a
// step is missing.
absl::Status Migrate(leveldb::DB* db, const std::vector<Migration>& migrations,
                     int target);

}  // namespace cradle::metadata_migrations

#endif  // CRADLE_METADATA_MIGRATIONS_H_
