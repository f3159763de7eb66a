// The metadata store: typed records in namespaces ("k8s.io" for the CRI).
// The LevelDB implementation is in leveldb_store.h; no LevelDB type is
// visible here. Keys are built only in keys.h; the format is drawn in
// docs/format/metadata-keys.md.
//
// Records are what the garbage collector (gc.h) walks: images, containers,
// sandboxes and leases are roots; content and snapshot records say which
// blobs and snapshots a namespace uses and, through their labels, what
// they reference in turn.
#ifndef CRADLE_METADATA_METADATA_H_
#define CRADLE_METADATA_METADATA_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "content/content.h"

namespace cradle {

// Labels the garbage collector follows (see gc.h).
// A record carrying kGcRoot is kept even when nothing references it.
inline constexpr char kGcRootLabel[] = "cradle.io/gc.root";
// "cradle.io/gc.ref.content[.<anything>]" = "sha256:...": a blob this
// record needs, e.g. a manifest's content record naming its config and
// layers (".config", ".l.0", ...), or an index naming its manifests.
inline constexpr char kGcRefContentPrefix[] = "cradle.io/gc.ref.content";
// "cradle.io/gc.ref.snapshot.<snapshotter>[.<anything>]" = key: a
// snapshot this record needs, e.g. an image naming its unpacked chain id.
inline constexpr char kGcRefSnapshotPrefix[] = "cradle.io/gc.ref.snapshot.";
// The same labels by containerd's names, which its clients (ctr) write;
// the collector treats each exactly like cradle's own. containerd ends a
// snapshot ref's snapshotter with '/' where cradle uses '.'; both are read.
inline constexpr char kContainerdGcRootLabel[] = "containerd.io/gc.root";
inline constexpr char kContainerdGcRefContentPrefix[] =
    "containerd.io/gc.ref.content";
inline constexpr char kContainerdGcRefSnapshotPrefix[] =
    "containerd.io/gc.ref.snapshot.";
// On a lease: an RFC 3339 time after which the lease is expired, as
// containerd's clients set it; the earlier of it and expires_at counts.
inline constexpr char kContainerdGcExpireLabel[] = "containerd.io/gc.expire";

// The namespace whose snapshot keys are the snapshotter's own keys (the
// CRI's). Every other namespace's keys are stored in the one snapshotter
// as "<ns>/<key>", so two namespaces never share a key.
inline constexpr char kIdentitySnapshotNamespace[] = "k8s.io";
// The snapshotter's key of snapshot `key` as namespace `ns` names it. "" stays
// "". Records and lease resources hold the result; clients (and the labels
// they write) use the namespace's own keys.
inline std::string BackendSnapshotKey(absl::string_view ns,
                                      absl::string_view key) {
  if (key.empty() || ns == kIdentitySnapshotNamespace) return std::string(key);
  std::string out(ns);
  out += '/';
  out.append(key.data(), key.size());
  return out;
}

// Times are set by the store: created_at on creation, updated_at on every
// write. Values passed in are ignored.
struct ImageRecord {
  std::string name;   // normalised reference: docker.io/library/busybox:1.36
  Descriptor target;  // what the name resolved to (index or manifest)
  Labels labels;
  absl::Time created_at;
  absl::Time updated_at;
};
using Image = ImageRecord;

// What containers and sandboxes have in common. `spec` and `extensions`
// are opaque bytes the runtime fills (serialized config, status, ...).
struct ObjectRecord {
  std::string id;
  std::string image;        // image name it was created from, if any
  std::string snapshotter;  // with snapshot_key: its root file system
  std::string snapshot_key;
  Labels labels;
  std::string spec;
  std::map<std::string, std::string> extensions;
  absl::Time created_at;
  absl::Time updated_at;
};
// The extension a container made through containerd's API carries (its
// runtime); records without it in k8s.io are the CRI's.
inline constexpr char kContainerdRuntimeExtension[] =
    "cradle.io/containerd.runtime";

struct ContainerRecord : ObjectRecord {
  std::string sandbox_id;
};
struct SandboxRecord : ObjectRecord {};

// A blob a namespace uses (the blob itself is in the ContentStore).
struct ContentRecord {
  Digest digest = Digest::OfBytes("");
  int64_t size = 0;
  Labels labels;
  absl::Time created_at;
  absl::Time updated_at;
};

// A snapshot a namespace uses (the snapshot itself is the snapshotter's).
struct SnapshotRecord {
  std::string snapshotter;  // "overlayfs"
  std::string key;
  Labels labels;
  absl::Time created_at;
  absl::Time updated_at;
};

// What a lease holds: while the lease lives the collector keeps it.
struct LeaseResource {
  enum class Type { kContent, kSnapshot, kIngest };
  Type type = Type::kContent;
  // kContent: "sha256:..."; kSnapshot: "<snapshotter>/<key>"; kIngest: the
  // ingest ref as the namespaced content store was given it.
  std::string id;
  friend bool operator==(const LeaseResource& a, const LeaseResource& b) {
    return a.type == b.type && a.id == b.id;
  }
};

struct LeaseRecord {
  std::string id;
  Labels labels;
  absl::Time expires_at = absl::InfiniteFuture();
  absl::Time created_at;
  // Filled by GetLease and ListLeases; ignored on writes (use the
  // resource mutations).
  std::vector<LeaseResource> resources;
};

// A lease resource added to or removed from a lease.
struct LeaseResourceRecord {
  std::string lease_id;
  LeaseResource resource;
};

using Record =
    std::variant<ImageRecord, ContainerRecord, SandboxRecord, ContentRecord,
                 SnapshotRecord, LeaseRecord, LeaseResourceRecord>;

// Writes applied together: all of them or none.
class MetadataBatch {
 public:
  enum class Action {
    kPut,              // create or replace (keeps created_at)
    kCreate,           // AlreadyExists when present
    kUpdate,           // NotFound when absent (keeps created_at)
    kDelete,           // NotFound when absent
    kDeleteIfPresent,  // no error when absent
  };
  struct Mutation {
    Action action;
    std::string ns;
    Record record;  // for deletes only the identifying fields matter
  };

  MetadataBatch& Add(Action action, absl::string_view ns, Record record) {
    mutations_.push_back({action, std::string(ns), std::move(record)});
    return *this;
  }
  MetadataBatch& Put(absl::string_view ns, Record record) {
    return Add(Action::kPut, ns, std::move(record));
  }
  MetadataBatch& Create(absl::string_view ns, Record record) {
    return Add(Action::kCreate, ns, std::move(record));
  }
  MetadataBatch& Delete(absl::string_view ns, Record record) {
    return Add(Action::kDelete, ns, std::move(record));
  }
  const std::vector<Mutation>& mutations() const { return mutations_; }
  bool empty() const { return mutations_.empty(); }

 private:
  std::vector<Mutation> mutations_;
};

// Thread-safe. Every write is synced to disk before it returns.
class MetadataStore {
 public:
  MetadataStore() = default;
  MetadataStore(const MetadataStore&) = delete;
  MetadataStore& operator=(const MetadataStore&) = delete;
  virtual ~MetadataStore() = default;

  // Applies every mutation or none: InvalidArgument for a malformed record,
  // AlreadyExists / NotFound for a failed precondition, naming the record.
  // Deleting a lease deletes its resources; deleting content, its index.
  virtual absl::Status Apply(const MetadataBatch& batch) = 0;

  // The record of `prototype`'s type whose identifying fields (name, id,
  // digest, snapshotter+key, lease id) match. NotFound when absent.
  virtual absl::StatusOr<Record> Get(absl::string_view ns,
                                     const Record& prototype) = 0;
  // Every record of `prototype`'s type in the namespace, in key order.
  virtual absl::StatusOr<std::vector<Record>> List(absl::string_view ns,
                                                   const Record& prototype) = 0;
  // Namespaces holding at least one record (namespace labels count).
  virtual absl::StatusOr<std::vector<std::string>> ListNamespaces() = 0;

  // A namespace's own labels (containerd's namespace labels). Having them
  // set keeps an otherwise empty namespace in ListNamespaces. Get answers
  // NotFound when none were set. The defaults answer Unimplemented.
  virtual absl::StatusOr<Labels> GetNamespaceLabels(absl::string_view ns);
  virtual absl::Status SetNamespaceLabels(absl::string_view ns,
                                          const Labels& labels);
  // No error when none were set.
  virtual absl::Status DeleteNamespaceLabels(absl::string_view ns);
  // Namespaces with a content record for `digest`.
  virtual absl::StatusOr<std::vector<std::string>> ContentOwners(
      const Digest& digest) = 0;

  // Typed conveniences over the above (metadata.cc).
  absl::StatusOr<ImageRecord> GetImage(absl::string_view ns,
                                       absl::string_view name);
  absl::StatusOr<std::vector<ImageRecord>> ListImages(absl::string_view ns);
  absl::Status PutImage(absl::string_view ns, const ImageRecord& image);
  // All or nothing; missing names are skipped.
  absl::Status DeleteImages(absl::string_view ns,
                            const std::vector<std::string>& names);

  absl::StatusOr<ContainerRecord> GetContainer(absl::string_view ns,
                                               absl::string_view id);
  absl::StatusOr<std::vector<ContainerRecord>> ListContainers(
      absl::string_view ns);
  absl::StatusOr<SandboxRecord> GetSandbox(absl::string_view ns,
                                           absl::string_view id);
  absl::StatusOr<std::vector<SandboxRecord>> ListSandboxes(
      absl::string_view ns);

  absl::StatusOr<ContentRecord> GetContent(absl::string_view ns,
                                           const Digest& digest);
  absl::StatusOr<std::vector<ContentRecord>> ListContent(absl::string_view ns);
  absl::StatusOr<std::vector<SnapshotRecord>> ListSnapshots(
      absl::string_view ns);

  // A lease with a random id when `lease.id` is empty; returns it.
  absl::StatusOr<LeaseRecord> CreateLease(absl::string_view ns,
                                          LeaseRecord lease);
  absl::StatusOr<LeaseRecord> GetLease(absl::string_view ns,
                                       absl::string_view id);
  absl::StatusOr<std::vector<LeaseRecord>> ListLeases(absl::string_view ns);
  absl::Status DeleteLease(absl::string_view ns, absl::string_view id);
  // NotFound when the lease does not exist.
  absl::Status AddLeaseResource(absl::string_view ns, absl::string_view lease,
                                LeaseResource resource);
};

}  // namespace cradle

#endif  // CRADLE_METADATA_METADATA_H_
