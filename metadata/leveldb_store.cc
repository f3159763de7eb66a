#include "metadata/leveldb_store.h"

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <filesystem>
#include <map>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "metadata/codec.h"
#include "metadata/keys.h"
#include "metadata/migrations.h"
#include "metadata/records.pb.h"

namespace cradle {
namespace {

namespace keys = metadata_keys;
namespace codec = metadata_codec;
using Action = MetadataBatch::Action;

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

absl::Status WithContext(const absl::Status& s, absl::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

bool IsDelete(Action a) {
  return a == Action::kDelete || a == Action::kDeleteIfPresent;
}

class LevelDbMetadataStore : public MetadataStore {
 public:
  explicit LevelDbMetadataStore(std::unique_ptr<leveldb::DB> db)
      : db_(std::move(db)) {}

  absl::Status Apply(const MetadataBatch& batch) override {
    absl::MutexLock lock(&write_mu_);
    // Later mutations see earlier ones of the same batch; nothing reaches
    // the database unless every one of them is valid.
    std::map<std::string, std::optional<std::string>> pending;
    auto read = [&](const std::string& key)
        -> absl::StatusOr<std::optional<std::string>> {
      if (auto it = pending.find(key); it != pending.end()) return it->second;
      std::string value;
      leveldb::Status s = db_->Get(leveldb::ReadOptions(), key, &value);
      if (s.IsNotFound()) return std::optional<std::string>();
      if (!s.ok()) return FromLevelDb(s, absl::StrCat("read ", key));
      return std::optional<std::string>(std::move(value));
    };
    absl::Time now = absl::Now();
    for (const MetadataBatch::Mutation& m : batch.mutations()) {
      std::string what = codec::Describe(m.record);
      absl::StatusOr<std::string> key = codec::KeyOf(m.ns, m.record);
      if (!key.ok()) return WithContext(key.status(), what);
      absl::StatusOr<std::optional<std::string>> existing = read(*key);
      if (!existing.ok()) return existing.status();
      bool present = existing->has_value();
      if (m.action == Action::kCreate && present) {
        return absl::AlreadyExistsError(
            absl::StrCat(what, " already exists in namespace ", m.ns));
      }
      if ((m.action == Action::kUpdate || m.action == Action::kDelete) &&
          !present) {
        return absl::NotFoundError(
            absl::StrCat(what, " not found in namespace ", m.ns));
      }
      if (IsDelete(m.action)) {
        if (!present) continue;
        pending[*key] = std::nullopt;
        if (auto* c = std::get_if<ContentRecord>(&m.record))
          pending[keys::ContentOwner(c->digest.ToString(), m.ns)] =
              std::nullopt;
        if (auto* l = std::get_if<LeaseRecord>(&m.record)) {
          std::string prefix = keys::LeaseResourcesPrefix(m.ns, l->id);
          for (const std::string& k : KeysWithPrefix(prefix))
            pending[k] = std::nullopt;
          for (auto& [k, v] : pending)
            if (absl::StartsWith(k, prefix)) v = std::nullopt;
        }
        continue;
      }
      Record record = m.record;
      if (auto* r = std::get_if<LeaseResourceRecord>(&record)) {
        LeaseRecord lease;
        lease.id = r->lease_id;
        absl::StatusOr<std::optional<std::string>> held =
            read(*codec::KeyOf(m.ns, lease));
        if (!held.ok()) return held.status();
        if (!held->has_value()) {
          return absl::NotFoundError(absl::StrCat(
              what, ": no lease \"", r->lease_id, "\" in namespace ", m.ns));
        }
      }
      absl::Time created = now;
      if (present) {
        absl::StatusOr<Record> old =
            codec::Decode(m.record, m.ns, *key, **existing);
        if (old.ok()) created = codec::CreatedAt(*old);
      }
      codec::SetTimes(record, created, now);
      pending[*key] = codec::Encode(record);
      if (auto* c = std::get_if<ContentRecord>(&record))
        pending[keys::ContentOwner(c->digest.ToString(), m.ns)] = "";
    }
    if (pending.empty()) return absl::OkStatus();
    leveldb::WriteBatch write;
    for (const auto& [key, value] : pending) {
      if (value) {
        write.Put(key, *value);
      } else {
        write.Delete(key);
      }
    }
    leveldb::WriteOptions sync;
    sync.sync = true;
    return FromLevelDb(db_->Write(sync, &write), "write metadata");
  }

  absl::StatusOr<Record> Get(absl::string_view ns,
                             const Record& prototype) override {
    absl::StatusOr<std::string> key = codec::KeyOf(ns, prototype);
    std::string what = codec::Describe(prototype);
    if (!key.ok()) return WithContext(key.status(), what);
    std::string value;
    leveldb::Status s = db_->Get(leveldb::ReadOptions(), *key, &value);
    if (s.IsNotFound()) {
      return absl::NotFoundError(
          absl::StrCat(what, " not found in namespace ", ns));
    }
    if (!s.ok()) return FromLevelDb(s, absl::StrCat("read ", what));
    absl::StatusOr<Record> record = codec::Decode(prototype, ns, *key, value);
    if (!record.ok()) return record;
    if (auto* lease = std::get_if<LeaseRecord>(&*record)) {
      if (absl::Status f = FillResources(ns, *lease); !f.ok()) return f;
    }
    return record;
  }

  absl::StatusOr<std::vector<Record>> List(absl::string_view ns,
                                           const Record& prototype) override {
    if (absl::Status s = keys::ValidateComponent("namespace", ns); !s.ok())
      return s;
    std::vector<Record> out;
    std::string prefix = codec::PrefixOf(ns, prototype);
    std::unique_ptr<leveldb::Iterator> it(
        db_->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      absl::StatusOr<Record> record = codec::Decode(
          prototype, ns, it->key().ToString(),
          absl::string_view(it->value().data(), it->value().size()));
      if (!record.ok()) return record.status();
      out.push_back(*std::move(record));
    }
    if (!it->status().ok()) return FromLevelDb(it->status(), "list metadata");
    for (Record& r : out) {
      if (auto* lease = std::get_if<LeaseRecord>(&r)) {
        if (absl::Status f = FillResources(ns, *lease); !f.ok()) return f;
      }
    }
    return out;
  }

  absl::StatusOr<std::vector<std::string>> ListNamespaces() override {
    std::vector<std::string> out;
    std::unique_ptr<leveldb::Iterator> it(
        db_->NewIterator(leveldb::ReadOptions()));
    const absl::string_view root = keys::kNamespacesPrefix;
    it->Seek(leveldb::Slice(root.data(), root.size()));
    while (it->Valid() &&
           it->key().starts_with(leveldb::Slice(root.data(), root.size()))) {
      absl::string_view rest(it->key().data() + root.size(),
                             it->key().size() - root.size());
      std::string ns(rest.substr(0, rest.find('/')));
      out.push_back(ns);
      // '0' sorts right after '/': skip the rest of this namespace.
      it->Seek(absl::StrCat(root, ns, "0"));
    }
    if (!it->status().ok()) return FromLevelDb(it->status(), "list namespaces");
    return out;
  }

  absl::StatusOr<std::vector<std::string>> ContentOwners(
      const Digest& digest) override {
    std::string prefix = keys::ContentOwnersPrefix(digest.ToString());
    std::vector<std::string> out;
    for (const std::string& key : KeysWithPrefix(prefix))
      out.push_back(key.substr(prefix.size()));
    return out;
  }

  absl::StatusOr<Labels> GetNamespaceLabels(absl::string_view ns) override {
    if (absl::Status s = keys::ValidateComponent("namespace", ns); !s.ok())
      return s;
    std::string value;
    leveldb::Status s =
        db_->Get(leveldb::ReadOptions(), keys::NamespaceLabels(ns), &value);
    if (s.IsNotFound()) {
      return absl::NotFoundError(
          absl::StrCat("namespace ", ns, " has no labels set"));
    }
    if (!s.ok()) return FromLevelDb(s, absl::StrCat("read namespace ", ns));
    metadata::NamespaceRecord p;
    if (!p.ParseFromString(value)) {
      return absl::DataLossError(
          absl::StrCat("labels of namespace ", ns, " are corrupt"));
    }
    return Labels(p.labels().begin(), p.labels().end());
  }

  absl::Status SetNamespaceLabels(absl::string_view ns,
                                  const Labels& labels) override {
    if (absl::Status s = keys::ValidateComponent("namespace", ns); !s.ok())
      return s;
    metadata::NamespaceRecord p;
    p.mutable_labels()->insert(labels.begin(), labels.end());
    leveldb::WriteOptions sync;
    sync.sync = true;
    absl::MutexLock lock(&write_mu_);
    return FromLevelDb(
        db_->Put(sync, keys::NamespaceLabels(ns), p.SerializeAsString()),
        absl::StrCat("write labels of namespace ", ns));
  }

  absl::Status DeleteNamespaceLabels(absl::string_view ns) override {
    if (absl::Status s = keys::ValidateComponent("namespace", ns); !s.ok())
      return s;
    leveldb::WriteOptions sync;
    sync.sync = true;
    absl::MutexLock lock(&write_mu_);
    return FromLevelDb(db_->Delete(sync, keys::NamespaceLabels(ns)),
                       absl::StrCat("delete labels of namespace ", ns));
  }

 private:
  std::vector<std::string> KeysWithPrefix(const std::string& prefix) {
    std::vector<std::string> out;
    std::unique_ptr<leveldb::Iterator> it(
        db_->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      out.push_back(it->key().ToString());
    }
    return out;
  }

  absl::Status FillResources(absl::string_view ns, LeaseRecord& lease) {
    LeaseResourceRecord proto;
    proto.lease_id = lease.id;
    absl::StatusOr<std::vector<Record>> held = List(ns, proto);
    if (!held.ok()) return held.status();
    lease.resources.clear();
    for (const Record& r : *held)
      lease.resources.push_back(std::get<LeaseResourceRecord>(r).resource);
    return absl::OkStatus();
  }

  std::unique_ptr<leveldb::DB> db_;
  // Serialises Apply's read-check-write; reads need no lock.
  absl::Mutex write_mu_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetadataStore>> OpenMetadataStore(
    const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("create ", dir, ": ", ec.message()));
  }
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
  absl::Status migrated = metadata_migrations::Migrate(
      db.get(), metadata_migrations::Migrations(), keys::kSchemaVersion);
  if (!migrated.ok()) return WithContext(migrated, dir);
  return std::unique_ptr<MetadataStore>(
      new LevelDbMetadataStore(std::move(db)));
}

}  // namespace cradle
