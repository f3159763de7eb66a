#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "metadata/keys.h"
#include "metadata/metadata.h"
#include "metadata/records.pb.h"

namespace cradle {
namespace {

namespace keys = metadata_keys;

absl::Status FromLevelDb(const leveldb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(message);
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsIOError() && absl::StrContains(s.ToString(), "lock")) {
    return absl::FailedPreconditionError(
        message + " (is another cradled using this root?)");
  }
  return absl::InternalError(message);
}

Image FromRecord(const metadata::ImageRecord& r) {
  Image image;
  image.name = r.name();
  image.target = {r.target().media_type(), r.target().digest(),
                  r.target().size()};
  image.labels.insert(r.labels().begin(), r.labels().end());
  image.created_at = absl::FromUnixNanos(r.created_at_ns());
  image.updated_at = absl::FromUnixNanos(r.updated_at_ns());
  return image;
}

metadata::ImageRecord ToRecord(const Image& image) {
  metadata::ImageRecord r;
  r.set_name(image.name);
  r.mutable_target()->set_media_type(image.target.media_type);
  r.mutable_target()->set_digest(image.target.digest);
  r.mutable_target()->set_size(image.target.size);
  r.mutable_labels()->insert(image.labels.begin(), image.labels.end());
  r.set_created_at_ns(absl::ToUnixNanos(image.created_at));
  r.set_updated_at_ns(absl::ToUnixNanos(image.updated_at));
  return r;
}

class LevelDbMetadataStore : public MetadataStore {
 public:
  explicit LevelDbMetadataStore(std::unique_ptr<leveldb::DB> db)
      : db_(std::move(db)) {}

  absl::StatusOr<Image> GetImage(absl::string_view ns,
                                 absl::string_view name) override {
    std::string value;
    leveldb::Status s =
        db_->Get(leveldb::ReadOptions(), keys::Image(ns, name), &value);
    if (s.IsNotFound())
      return absl::NotFoundError(
          absl::StrCat("image \"", name, "\" not found"));
    if (!s.ok()) return FromLevelDb(s, "read image");
    metadata::ImageRecord record;
    if (!record.ParseFromString(value)) {
      return absl::DataLossError(
          absl::StrCat("image record \"", name, "\" is corrupt"));
    }
    return FromRecord(record);
  }

  absl::StatusOr<std::vector<Image>> ListImages(absl::string_view ns) override {
    std::vector<Image> images;
    std::string prefix = keys::ImagesPrefix(ns);
    std::unique_ptr<leveldb::Iterator> it(
        db_->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      metadata::ImageRecord record;
      if (!record.ParseFromArray(it->value().data(), it->value().size())) {
        return absl::DataLossError(
            absl::StrCat("image record ", it->key().ToString(), " is corrupt"));
      }
      images.push_back(FromRecord(record));
    }
    if (!it->status().ok()) return FromLevelDb(it->status(), "list images");
    return images;
  }

  absl::Status PutImage(absl::string_view ns, const Image& image) override {
    if (image.name.empty())
      return absl::InvalidArgumentError("an image needs a name");
    absl::MutexLock lock(&write_mu_);  // read-modify-write of created_at
    Image stored = image;
    absl::StatusOr<Image> existing = GetImage(ns, image.name);
    stored.created_at = existing.ok() ? existing->created_at : absl::Now();
    stored.updated_at = absl::Now();
    leveldb::WriteOptions sync;
    sync.sync = true;
    return FromLevelDb(db_->Put(sync, keys::Image(ns, image.name),
                                ToRecord(stored).SerializeAsString()),
                       "write image");
  }

  absl::Status DeleteImages(absl::string_view ns,
                            const std::vector<std::string>& names) override {
    leveldb::WriteBatch batch;
    for (const std::string& name : names) batch.Delete(keys::Image(ns, name));
    leveldb::WriteOptions sync;
    sync.sync = true;
    absl::MutexLock lock(&write_mu_);
    return FromLevelDb(db_->Write(sync, &batch), "delete images");
  }

 private:
  std::unique_ptr<leveldb::DB> db_;
  absl::Mutex write_mu_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetadataStore>> OpenMetadataStore(
    const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("create ", dir, ": ", ec.message()));
  leveldb::Options options;
  options.create_if_missing = true;
  leveldb::DB* raw = nullptr;
  if (absl::Status s =
          FromLevelDb(leveldb::DB::Open(options, dir + "/meta.ldb", &raw),
                      "open metadata database " + dir);
      !s.ok()) {
    return s;
  }
  std::unique_ptr<leveldb::DB> db(raw);
  std::string version;
  leveldb::Status s =
      db->Get(leveldb::ReadOptions(), keys::kVersionKey, &version);
  if (s.IsNotFound()) {
    leveldb::WriteOptions sync;
    sync.sync = true;
    if (absl::Status w =
            FromLevelDb(db->Put(sync, keys::kVersionKey,
                                absl::StrCat(keys::kSchemaVersion)),
                        "write version");
        !w.ok()) {
      return w;
    }
  } else if (!s.ok()) {
    return FromLevelDb(s, "read schema version");
  } else {
    int found = 0;
    if (!absl::SimpleAtoi(version, &found) || found > keys::kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("metadata schema version ", version, " in ", dir,
                       " is newer than this cradled (", keys::kSchemaVersion,
                       "); upgrade cradled"));
    }
    // Older versions would be migrated here; version 1 is the first.
  }
  return std::unique_ptr<MetadataStore>(
      new LevelDbMetadataStore(std::move(db)));
}

}  // namespace cradle
