#include "snapshots/local/snapshotter.h"

#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"
#include "process/process.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kRecordPrefix[] = "snapshot/";
constexpr char kNextIdKey[] = "next-id";
// Longer lowerdir lists are handed out relative (see MountsOf).
constexpr size_t kMaxAbsoluteLowerdir = 3072;

const char* KindName(SnapshotKind k) {
  switch (k) {
    case SnapshotKind::kView:
      return "view";
    case SnapshotKind::kActive:
      return "active";
    case SnapshotKind::kCommitted:
      return "committed";
  }
  return "";
}

struct Record {
  int64_t id = 0;
  SnapshotInfo info;
};

json ToJson(const Record& r) {
  return {{"id", r.id},
          {"kind", KindName(r.info.kind)},
          {"parent", r.info.parent},
          {"labels", r.info.labels},
          {"created", absl::ToUnixNanos(r.info.created_at)},
          {"updated", absl::ToUnixNanos(r.info.updated_at)}};
}

absl::StatusOr<Record> FromJson(const std::string& name,
                                const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(
        absl::StrCat("snapshot record ", name, " is corrupt"));
  }
  Record r;
  r.id = j.value("id", int64_t{0});
  r.info.name = name;
  std::string kind = j.value("kind", "");
  r.info.kind = kind == "view"        ? SnapshotKind::kView
                : kind == "committed" ? SnapshotKind::kCommitted
                                      : SnapshotKind::kActive;
  r.info.parent = j.value("parent", "");
  r.info.labels = j.value("labels", Labels());
  r.info.created_at = absl::FromUnixNanos(j.value("created", int64_t{0}));
  r.info.updated_at = absl::FromUnixNanos(j.value("updated", int64_t{0}));
  return r;
}

absl::Status Db(const leveldb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", s.ToString()));
}

class Local : public LocalSnapshotter {
 public:
  Local(std::string root, std::unique_ptr<leveldb::DB> db,
        SnapshotDriver driver)
      : root_(std::move(root)), db_(std::move(db)), driver_(driver) {}

  absl::StatusOr<SnapshotInfo> Stat(absl::string_view key) override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Record> r = Get(key);
    if (!r.ok()) return r.status();
    return r->info;
  }

  absl::StatusOr<std::vector<Mount>> Prepare(absl::string_view key,
                                             absl::string_view parent,
                                             const Labels& labels) override {
    return Create(key, parent, labels, SnapshotKind::kActive);
  }

  absl::StatusOr<std::vector<Mount>> View(absl::string_view key,
                                          absl::string_view parent,
                                          const Labels& labels) override {
    return Create(key, parent, labels, SnapshotKind::kView);
  }

  absl::StatusOr<std::vector<Mount>> Mounts(absl::string_view key) override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Record> r = Get(key);
    if (!r.ok()) return r.status();
    return MountsOf(*r);
  }

  absl::Status Commit(absl::string_view name, absl::string_view key,
                      const Labels& labels) override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Record> r = Get(key);
    if (!r.ok()) return r.status();
    if (r->info.kind != SnapshotKind::kActive) {
      return absl::FailedPreconditionError(absl::StrCat(
          "snapshot ", key, " is ", KindName(r->info.kind), ", not active"));
    }
    if (Get(name).ok()) {
      return absl::AlreadyExistsError(
          absl::StrCat("snapshot ", name, " already exists"));
    }
    Record committed = *r;
    committed.info.name = std::string(name);
    committed.info.kind = SnapshotKind::kCommitted;
    for (const auto& [k, v] : labels) committed.info.labels[k] = v;
    committed.info.updated_at = absl::Now();
    leveldb::WriteBatch batch;
    batch.Delete(absl::StrCat(kRecordPrefix, key));
    batch.Put(absl::StrCat(kRecordPrefix, name), ToJson(committed).dump());
    return Write(&batch, "commit snapshot");
  }

  absl::Status Remove(absl::string_view key) override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Record> r = Get(key);
    if (!r.ok()) return r.status();
    std::vector<std::string> children;
    if (absl::Status s = ForEach([&](const Record& other) {
          if (other.info.parent == key) children.push_back(other.info.name);
        });
        !s.ok()) {
      return s;
    }
    if (!children.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot ", key, " is the parent of ",
                       absl::StrJoin(children, ", ")));
    }
    leveldb::WriteBatch batch;
    batch.Delete(absl::StrCat(kRecordPrefix, key));
    if (absl::Status s = Write(&batch, "remove snapshot"); !s.ok()) return s;
    // Record first, then the dir: a crash in between leaves an orphan dir,
    // which the next open removes.
    std::string dir = Dir(r->id);
    std::string doomed = absl::StrCat(root_, "/snapshots/rm-", r->id);
    std::error_code ec;
    fs::rename(dir, doomed, ec);
    fs::remove_all(ec ? dir : doomed, ec);
    return absl::OkStatus();
  }

  absl::StatusOr<SnapshotUsage> Usage(absl::string_view key) override {
    std::string dir;
    {
      absl::MutexLock lock(&mu_);
      absl::StatusOr<Record> r = Get(key);
      if (!r.ok()) return r.status();
      dir = Dir(r->id) + "/fs";
    }
    SnapshotUsage usage;
    std::set<std::pair<dev_t, ino_t>> seen;  // hardlinks count once
    struct stat top;
    if (lstat(dir.c_str(), &top) == 0) {
      usage.inodes = 1;
      usage.bytes = top.st_blocks * 512;
    }
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec);
         !ec && it != fs::end(it); it.increment(ec)) {
      struct stat st;
      if (lstat(it->path().c_str(), &st) != 0 ||
          !seen.insert({st.st_dev, st.st_ino}).second) {
        continue;
      }
      usage.inodes++;
      usage.bytes += st.st_blocks * 512;
    }
    return usage;
  }

  absl::Status Walk(
      absl::FunctionRef<absl::Status(const SnapshotInfo&)> fn) override {
    std::vector<SnapshotInfo> all;
    {
      absl::MutexLock lock(&mu_);
      if (absl::Status s =
              ForEach([&](const Record& r) { all.push_back(r.info); });
          !s.ok()) {
        return s;
      }
    }
    for (const SnapshotInfo& info : all) {
      if (absl::Status s = fn(info); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Target> ApplyTarget(absl::string_view key) override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Record> r = Get(key);
    if (!r.ok()) return r.status();
    if (r->info.kind != SnapshotKind::kActive) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot ", key, " is not active"));
    }
    absl::StatusOr<std::vector<std::string>> lowers = LowerDirs(r->info.parent);
    if (!lowers.ok()) return lowers.status();
    if (driver_ == SnapshotDriver::kNative) {
      return Target{Dir(r->id) + "/fs", {}, WhiteoutStyle::kDelete};
    }
    return Target{Dir(r->id) + "/fs", *lowers, WhiteoutStyle::kOverlay};
  }

  absl::Status Init() {
    std::error_code ec;
    fs::create_directories(root_ + "/snapshots", ec);
    if (ec)
      return absl::InternalError(
          absl::StrCat("create ", root_, ": ", ec.message()));
    std::set<std::string> live;
    absl::MutexLock lock(&mu_);
    if (absl::Status s = ForEach(
            [&](const Record& r) { live.insert(std::to_string(r.id)); });
        !s.ok()) {
      return s;
    }
    for (const auto& entry : fs::directory_iterator(root_ + "/snapshots", ec)) {
      std::string name = entry.path().filename().string();
      if (live.count(name) == 0) {
        LOG(WARNING) << "snapshot dir " << entry.path()
                     << " has no record; removing it";
        fs::remove_all(entry.path(), ec);
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string Dir(int64_t id) const {
    return absl::StrCat(root_, "/snapshots/", id);
  }

  absl::StatusOr<Record> Get(absl::string_view key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string value;
    leveldb::Status s = db_->Get(leveldb::ReadOptions(),
                                 absl::StrCat(kRecordPrefix, key), &value);
    if (s.IsNotFound())
      return absl::NotFoundError(absl::StrCat("snapshot ", key, " not found"));
    if (!s.ok()) return Db(s, "read snapshot");
    return FromJson(std::string(key), value);
  }

  absl::Status ForEach(const std::function<void(const Record&)>& fn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::unique_ptr<leveldb::Iterator> it(
        db_->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(kRecordPrefix);
         it->Valid() && it->key().starts_with(kRecordPrefix); it->Next()) {
      std::string name = it->key().ToString().substr(sizeof(kRecordPrefix) - 1);
      absl::StatusOr<Record> r = FromJson(name, it->value().ToString());
      if (!r.ok()) return r.status();
      fn(*r);
    }
    return Db(it->status(), "list snapshots");
  }

  absl::Status Write(leveldb::WriteBatch* batch, absl::string_view what) {
    leveldb::WriteOptions sync;
    sync.sync = true;
    return Db(db_->Write(sync, batch), what);
  }

  // The fs dirs of `parent` and its ancestors, newest first.
  absl::StatusOr<std::vector<std::string>> LowerDirs(std::string parent)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<std::string> dirs;
    while (!parent.empty()) {
      absl::StatusOr<Record> p = Get(parent);
      if (!p.ok()) return p.status();
      dirs.push_back(Dir(p->id) + "/fs");
      parent = p->info.parent;
      if (dirs.size() > 500)
        return absl::DataLossError("snapshot parent chain loops");
    }
    return dirs;
  }

  absl::StatusOr<std::vector<Mount>> MountsOf(const Record& r)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::StatusOr<std::vector<std::string>> lowers = LowerDirs(r.info.parent);
    if (!lowers.ok()) return lowers.status();
    std::string dir = Dir(r.id);
    if (driver_ == SnapshotDriver::kNative) {
      // A full tree: the snapshot's own for an active one; a view reads its
      // (immutable) parent in place.
      if (r.info.kind == SnapshotKind::kActive) {
        return std::vector<Mount>{{"bind", dir + "/fs", {"rw", "rbind"}}};
      }
      return std::vector<Mount>{{"bind",
                                 lowers->empty() ? dir + "/fs" : (*lowers)[0],
                                 {"ro", "rbind"}}};
    }
    // One page of mount data holds about 60 absolute lowerdirs; longer
    // chains are given relative to the snapshots dir, and MountAll mounts
    // them from there.
    std::string lowerdir = absl::StrJoin(*lowers, ":");
    std::vector<std::string> extra;
    if (lowerdir.size() > kMaxAbsoluteLowerdir) {
      std::string base = root_ + "/snapshots/";
      std::vector<std::string> relative;
      for (const std::string& l : *lowers)
        relative.push_back(l.substr(base.size()));
      lowerdir = absl::StrJoin(relative, ":");
      extra.push_back("cradle.chdir=" + root_ + "/snapshots");
    }
    if (r.info.kind == SnapshotKind::kView) {
      if (lowers->empty())
        return std::vector<Mount>{{"bind", dir + "/fs", {"ro", "rbind"}}};
      if (lowers->size() == 1) {
        return std::vector<Mount>{{"bind", (*lowers)[0], {"ro", "rbind"}}};
      }
      std::vector<std::string> options = {"ro", "lowerdir=" + lowerdir};
      options.insert(options.end(), extra.begin(), extra.end());
      return std::vector<Mount>{{"overlay", "overlay", options}};
    }
    if (lowers->empty())
      return std::vector<Mount>{{"bind", dir + "/fs", {"rw", "rbind"}}};
    std::vector<std::string> options = {"lowerdir=" + lowerdir,
                                        "upperdir=" + dir + "/fs",
                                        "workdir=" + dir + "/work"};
    options.insert(options.end(), extra.begin(), extra.end());
    return std::vector<Mount>{{"overlay", "overlay", options}};
  }

  absl::StatusOr<std::vector<Mount>> Create(absl::string_view key,
                                            absl::string_view parent,
                                            const Labels& labels,
                                            SnapshotKind kind) {
    if (key.empty())
      return absl::InvalidArgumentError("a snapshot needs a key");
    absl::MutexLock lock(&mu_);
    if (Get(key).ok()) {
      return absl::AlreadyExistsError(
          absl::StrCat("snapshot ", key, " already exists"));
    }
    if (!parent.empty()) {
      absl::StatusOr<Record> p = Get(parent);
      if (!p.ok()) return p.status();
      if (p->info.kind != SnapshotKind::kCommitted) {
        return absl::FailedPreconditionError(
            absl::StrCat("parent ", parent, " is not a committed snapshot"));
      }
    }
    std::string next;
    int64_t id = 1;
    if (db_->Get(leveldb::ReadOptions(), kNextIdKey, &next).ok())
      absl::SimpleAtoi(next, &id);
    // Directory first (under a temporary name, then renamed), record last:
    // a crash leaves at most an orphan dir, removed at the next open.
    std::string tmp = absl::StrCat(root_, "/snapshots/new-", id);
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp + "/fs", ec);
    if (!ec) fs::create_directories(tmp + "/work", ec);
    if (!ec) fs::permissions(tmp + "/fs", fs::perms(0755), ec);
    if (!ec && driver_ == SnapshotDriver::kNative &&
        kind == SnapshotKind::kActive && !parent.empty()) {
      absl::StatusOr<Record> p = Get(parent);
      if (!p.ok()) return p.status();
      // cp -a keeps owners, modes, times, xattrs, hardlinks and devices.
      absl::StatusOr<RunResult> copy =
          RunAndCapture(SpawnOptions{{"cp", "-a", "--reflink=auto",
                                      Dir(p->id) + "/fs/.", tmp + "/fs"}},
                        "", absl::Hours(1));
      if (!copy.ok() || !copy->status.ok()) {
        fs::remove_all(tmp, ec);
        return absl::InternalError(
            absl::StrCat("copy parent ", parent, " for ", key, ": ",
                         copy.ok() ? copy->err : copy.status().ToString()));
      }
    }
    if (!ec) fs::rename(tmp, Dir(id), ec);
    if (ec) {
      fs::remove_all(tmp, ec);
      return absl::InternalError(
          absl::StrCat("create snapshot dir ", Dir(id), ": ", ec.message()));
    }
    Record r;
    r.id = id;
    r.info = {std::string(key), std::string(parent), kind,
              labels,           absl::Now(),         absl::Now()};
    leveldb::WriteBatch batch;
    batch.Put(kNextIdKey, absl::StrCat(id + 1));
    batch.Put(absl::StrCat(kRecordPrefix, key), ToJson(r).dump());
    if (absl::Status s = Write(&batch, "record snapshot"); !s.ok()) {
      fs::remove_all(Dir(id), ec);
      return s;
    }
    return MountsOf(r);
  }

  const std::string root_;
  std::unique_ptr<leveldb::DB> db_;
  const SnapshotDriver driver_;
  absl::Mutex mu_;
};

}  // namespace

absl::Status ProbeOverlay(const std::string& dir) {
  std::string base = dir + "/overlay-probe";
  std::error_code ec;
  fs::remove_all(base, ec);
  for (const char* sub : {"lower", "upper", "work", "merged"}) {
    fs::create_directories(absl::StrCat(base, "/", sub), ec);
  }
  std::string options =
      absl::StrCat("lowerdir=", base, "/lower,upperdir=", base,
                   "/upper,workdir=", base, "/work");
  int rc = mount("overlay", (base + "/merged").c_str(), "overlay", 0,
                 options.c_str());
  int err = errno;
  if (rc == 0) umount2((base + "/merged").c_str(), MNT_DETACH);
  fs::remove_all(base, ec);
  if (rc != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "overlayfs cannot be mounted under ", dir, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LocalSnapshotter>> OpenLocalSnapshotter(
    const std::string& root, SnapshotDriver driver) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("create ", root, ": ", ec.message()));
  if (driver == SnapshotDriver::kOverlay) {
    if (absl::Status s = ProbeOverlay(root); !s.ok()) return s;
  }
  leveldb::Options options;
  options.create_if_missing = true;
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, root + "/metadata.db", &raw);
  if (!s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "open snapshot records ", root, "/metadata.db: ", s.ToString()));
  }
  auto local =
      std::make_unique<Local>(root, std::unique_ptr<leveldb::DB>(raw), driver);
  if (absl::Status st = local->Init(); !st.ok()) return st;
  return std::unique_ptr<LocalSnapshotter>(std::move(local));
}

}  // namespace cradle
