#include "metadata/migrations.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "metadata/keys.h"

namespace cradle::metadata_migrations {

std::vector<Migration> Migrations() { return {}; }

absl::Status Migrate(leveldb::DB* db, const std::vector<Migration>& migrations,
                     int target) {
  leveldb::WriteOptions sync;
  sync.sync = true;
  std::string text;
  leveldb::Status s =
      db->Get(leveldb::ReadOptions(), metadata_keys::kVersionKey, &text);
  if (s.IsNotFound()) {
    s = db->Put(sync, metadata_keys::kVersionKey, absl::StrCat(target));
    if (!s.ok()) {
      return absl::InternalError(
          absl::StrCat("write schema version: ", s.ToString()));
    }
    return absl::OkStatus();
  }
  if (!s.ok()) {
    return absl::InternalError(
        absl::StrCat("read schema version: ", s.ToString()));
  }
  int version = 0;
  if (!absl::SimpleAtoi(text, &version) || version < 1) {
    return absl::DataLossError(
        absl::StrCat("metadata schema version \"", text, "\" is not valid"));
  }
  if (version > target) {
    return absl::FailedPreconditionError(absl::StrCat(
        "metadata schema version ", version, " is newer than this cradled (",
        target, "); upgrade cradled"));
  }
  for (; version < target; ++version) {
    const Migration* step = nullptr;
    for (const Migration& m : migrations) {
      if (m.from_version == version) step = &m;
    }
    if (step == nullptr) {
      return absl::InternalError(
          absl::StrCat("no metadata migration from version ", version));
    }
    leveldb::WriteBatch batch;
    if (absl::Status r = step->run(db, &batch); !r.ok()) {
      return absl::Status(r.code(),
                          absl::StrCat("metadata migration ", version, " (",
                                       step->description, "): ", r.message()));
    }
    batch.Put(metadata_keys::kVersionKey, absl::StrCat(version + 1));
    s = db->Write(sync, &batch);
    if (!s.ok()) {
      return absl::InternalError(
          absl::StrCat("metadata migration ", version, ": ", s.ToString()));
    }
    LOG(INFO) << "metadata: migrated schema " << version << " -> "
              << version + 1 << " (" << step->description << ")";
  }
  return absl::OkStatus();
}

}  // namespace cradle::metadata_migrations
