#include "containerd_api/snapshots_service.h"

#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "containerd_api/api_context.h"
#include "containerd_api/cri_snapshots.h"
#include "containerd_api/event_exchange.h"
#include "containerd_api/mount_convert.h"
#include "containerd_api/proto/events/snapshot.pb.h"
#include "containerd_api/proto/services/snapshots/v1/snapshots.grpc.pb.h"
#include "containerd_api/snapshot_keys.h"
#include "metadata/metadata.h"
#include "snapshots/snapshotter.h"

namespace cradle::containerd_api {
namespace {

namespace v1 = ::containerd::services::snapshots::v1;

// List answers in pages of this many infos, as containerd does.
constexpr int kListPage = 100;

v1::Kind KindToProto(SnapshotKind kind) {
  switch (kind) {
    case SnapshotKind::kView:
      return v1::VIEW;
    case SnapshotKind::kActive:
      return v1::ACTIVE;
    case SnapshotKind::kCommitted:
      return v1::COMMITTED;
  }
  return v1::UNKNOWN;
}

// containerd's names for kinds, as its filters use them ("kind==committed").
const char* KindName(SnapshotKind kind) {
  switch (kind) {
    case SnapshotKind::kView:
      return "view";
    case SnapshotKind::kActive:
      return "active";
    case SnapshotKind::kCommitted:
      return "committed";
  }
  return "unknown";
}

// Runs a handler body: absl::Status inside, gRPC status at the edge, and no
// exception out of the handler.
template <typename Fn>
grpc::Status Handle(Fn&& fn) {
  return ToGrpc(NoThrow("snapshots", fn));
}

class SnapshotsService final : public v1::Snapshots::Service {
 public:
  explicit SnapshotsService(const ContainerdApiDeps& deps) : deps_(deps) {}

  grpc::Status Prepare(grpc::ServerContext* ctx,
                       const v1::PrepareSnapshotRequest* req,
                       v1::PrepareSnapshotResponse* resp) override {
    return Handle([&] {
      return Create(ctx, req->snapshotter(), req->key(), req->parent(),
                    Labels(req->labels().begin(), req->labels().end()),
                    SnapshotKind::kActive, resp->mutable_mounts());
    });
  }

  grpc::Status View(grpc::ServerContext* ctx,
                    const v1::ViewSnapshotRequest* req,
                    v1::ViewSnapshotResponse* resp) override {
    return Handle([&] {
      return Create(ctx, req->snapshotter(), req->key(), req->parent(),
                    Labels(req->labels().begin(), req->labels().end()),
                    SnapshotKind::kView, resp->mutable_mounts());
    });
  }

  grpc::Status Mounts(grpc::ServerContext* ctx, const v1::MountsRequest* req,
                      v1::MountsResponse* resp) override {
    return Handle([&]() -> absl::Status {
      absl::StatusOr<std::string> bkey =
          Resolve(ctx, req->snapshotter(), req->key());
      if (!bkey.ok()) return bkey.status();
      absl::StatusOr<std::vector<Mount>> mounts =
          deps_.snapshotter->Mounts(*bkey);
      if (!mounts.ok())
        return Client(mounts.status(), RequestNamespace(ctx).value_or(""));
      ToProto(*mounts, resp->mutable_mounts());
      return absl::OkStatus();
    });
  }

  grpc::Status Commit(grpc::ServerContext* ctx,
                      const v1::CommitSnapshotRequest* req,
                      google::protobuf::Empty*) override {
    return Handle([&]() -> absl::Status {
      absl::StatusOr<std::string> ns = Namespace(ctx, req->snapshotter());
      if (!ns.ok()) return ns.status();
      for (const std::string* k : {&req->key(), &req->name()}) {
        if (absl::Status s = ValidateClientSnapshotKey(*ns, *k); !s.ok())
          return s;
      }
      if (absl::Status s = CheckLabels("snapshot", req->labels()); !s.ok())
        return s;
      std::string bkey = BackendSnapshotKey(*ns, req->key());
      std::string bname = BackendSnapshotKey(*ns, req->name());
      // Committing a CRI container's root re-keys it away from the
      // container's record, and the collector then deletes the live layer.
      if (absl::Status s = RefuseCriRoot(deps_, *ns, bkey); !s.ok()) return s;
      Labels labels(req->labels().begin(), req->labels().end());
      // The lease holds the committed snapshot before it exists.
      if (absl::Status s = HoldInLease(ctx, *ns, bname); !s.ok()) return s;
      if (absl::Status s = deps_.snapshotter->Commit(bname, bkey, labels);
          !s.ok()) {
        return Client(s, *ns);
      }
      // As containerd, the committed snapshot carries the commit's labels.
      MetadataBatch batch;
      batch.Add(MetadataBatch::Action::kDeleteIfPresent, *ns,
                NewRecord(bkey, {}));
      batch.Put(*ns, NewRecord(bname, labels));
      if (absl::Status s = deps_.metadata->Apply(batch); !s.ok()) {
        return absl::InternalError(
            absl::StrCat("committed snapshot ", req->name(),
                         " but could not record it: ", s.message()));
      }
      containerd::events::SnapshotCommit event;
      event.set_key(req->key());
      event.set_name(req->name());
      Publish(*ns, "/snapshot/commit", event);
      return absl::OkStatus();
    });
  }

  grpc::Status Remove(grpc::ServerContext* ctx,
                      const v1::RemoveSnapshotRequest* req,
                      google::protobuf::Empty*) override {
    return Handle([&]() -> absl::Status {
      absl::StatusOr<std::string> ns = Namespace(ctx, req->snapshotter());
      if (!ns.ok()) return ns.status();
      if (absl::Status s = ValidateClientSnapshotKey(*ns, req->key()); !s.ok())
        return s;
      std::string bkey = BackendSnapshotKey(*ns, req->key());
      if (absl::Status s = RefuseCriRoot(deps_, *ns, bkey); !s.ok()) return s;
      absl::Status removed = deps_.snapshotter->Remove(bkey);
      if (!removed.ok() && !absl::IsNotFound(removed))
        return Client(removed, *ns);
      // A record whose snapshot is gone is dropped either way.
      MetadataBatch batch;
      batch.Add(MetadataBatch::Action::kDeleteIfPresent, *ns,
                NewRecord(bkey, {}));
      if (absl::Status s = deps_.metadata->Apply(batch); !s.ok()) return s;
      if (!removed.ok()) return Client(removed, *ns);
      containerd::events::SnapshotRemove event;
      event.set_key(req->key());
      Publish(*ns, "/snapshot/remove", event);
      return absl::OkStatus();
    });
  }

  grpc::Status Stat(grpc::ServerContext* ctx,
                    const v1::StatSnapshotRequest* req,
                    v1::StatSnapshotResponse* resp) override {
    return Handle([&]() -> absl::Status {
      absl::StatusOr<std::string> ns = Namespace(ctx, req->snapshotter());
      if (!ns.ok()) return ns.status();
      if (absl::Status s = ValidateClientSnapshotKey(*ns, req->key()); !s.ok())
        return s;
      std::string bkey = BackendSnapshotKey(*ns, req->key());
      absl::StatusOr<SnapshotInfo> info = deps_.snapshotter->Stat(bkey);
      if (!info.ok()) return Client(info.status(), *ns);
      absl::StatusOr<SnapshotRecord> record = GetRecord(*ns, bkey);
      if (!record.ok() && !absl::IsNotFound(record.status()))
        return record.status();
      FillInfo(*ns, *info, record.ok() ? &*record : nullptr,
               resp->mutable_info());
      return absl::OkStatus();
    });
  }

  grpc::Status Update(grpc::ServerContext* ctx,
                      const v1::UpdateSnapshotRequest* req,
                      v1::UpdateSnapshotResponse* resp) override {
    return Handle([&]() -> absl::Status {
      absl::StatusOr<std::string> ns = Namespace(ctx, req->snapshotter());
      if (!ns.ok()) return ns.status();
      const std::string& key = req->info().name();
      if (absl::Status s = ValidateClientSnapshotKey(*ns, key); !s.ok())
        return s;
      std::string bkey = BackendSnapshotKey(*ns, key);
      absl::StatusOr<SnapshotInfo> info = deps_.snapshotter->Stat(bkey);
      if (!info.ok()) return Client(info.status(), *ns);
      absl::StatusOr<SnapshotRecord> record = GetRecord(*ns, bkey);
      if (!record.ok() && !absl::IsNotFound(record.status()))
        return record.status();
      Labels labels = record.ok() ? record->labels : info->labels;
      if (absl::Status s = CheckLabels("snapshot", req->info().labels());
          !s.ok()) {
        return s;
      }
      Labels wanted(req->info().labels().begin(), req->info().labels().end());
      // containerd: no paths replaces every label; "labels" likewise;
      // "labels.<key>" sets or (absent from the info) deletes one; any other
      // field is immutable.
      if (req->update_mask().paths_size() == 0) labels = wanted;
      for (const std::string& path : req->update_mask().paths()) {
        if (path == "labels") {
          labels = wanted;
        } else if (absl::StartsWith(path, "labels.")) {
          std::string label = path.substr(strlen("labels."));
          auto it = wanted.find(label);
          if (it == wanted.end()) {
            labels.erase(label);
          } else {
            labels[label] = it->second;
          }
        } else {
          return absl::InvalidArgumentError(absl::StrCat(
              "cannot update \"", path, "\" field on snapshot ", key));
        }
      }
      MetadataBatch batch;
      batch.Put(*ns, NewRecord(bkey, labels));
      if (absl::Status s = deps_.metadata->Apply(batch); !s.ok()) return s;
      absl::StatusOr<SnapshotRecord> updated = GetRecord(*ns, bkey);
      if (!updated.ok()) return updated.status();
      FillInfo(*ns, *info, &*updated, resp->mutable_info());
      return absl::OkStatus();
    });
  }

  grpc::Status List(
      grpc::ServerContext* ctx, const v1::ListSnapshotsRequest* req,
      grpc::ServerWriter<v1::ListSnapshotsResponse>* writer) override {
    return Handle([&]() -> absl::Status {
      absl::StatusOr<std::string> ns = Namespace(ctx, req->snapshotter());
      if (!ns.ok()) return ns.status();
      absl::StatusOr<Filter> filter =
          Filter::Parse({req->filters().begin(), req->filters().end()});
      if (!filter.ok()) return filter.status();
      absl::StatusOr<std::vector<SnapshotRecord>> records =
          deps_.metadata->ListSnapshots(*ns);
      if (!records.ok()) return records.status();
      std::map<std::string, SnapshotRecord> by_key;
      for (SnapshotRecord& r : *records) {
        if (r.snapshotter == deps_.snapshotter_name)
          by_key.emplace(r.key, std::move(r));
      }
      // The backend's key space, cut down to the namespace's part.
      std::vector<SnapshotInfo> infos;
      if (absl::Status s =
              deps_.snapshotter->Walk([&](const SnapshotInfo& info) {
                if (BackendSnapshotKeyInNamespace(*ns, info.name))
                  infos.push_back(info);
                return absl::OkStatus();
              });
          !s.ok()) {
        return s;
      }
      v1::ListSnapshotsResponse page;
      for (const SnapshotInfo& info : infos) {
        auto record = by_key.find(info.name);
        v1::Info out;
        FillInfo(*ns, info, record == by_key.end() ? nullptr : &record->second,
                 &out);
        std::map<std::string, std::string> fields = {
            {"name", out.name()},
            {"parent", out.parent()},
            {"kind", KindName(info.kind)}};
        std::map<std::string, std::string> labels(out.labels().begin(),
                                                  out.labels().end());
        if (!filter->Matches(FieldsAndLabels(fields, labels))) continue;
        *page.add_info() = std::move(out);
        if (page.info_size() >= kListPage) {
          if (!writer->Write(page))
            return absl::CancelledError("list: the client went away");
          page.Clear();
        }
      }
      if (page.info_size() > 0 && !writer->Write(page))
        return absl::CancelledError("list: the client went away");
      return absl::OkStatus();
    });
  }

  grpc::Status Usage(grpc::ServerContext* ctx, const v1::UsageRequest* req,
                     v1::UsageResponse* resp) override {
    return Handle([&]() -> absl::Status {
      absl::StatusOr<std::string> bkey =
          Resolve(ctx, req->snapshotter(), req->key());
      if (!bkey.ok()) return bkey.status();
      absl::StatusOr<SnapshotUsage> usage = deps_.snapshotter->Usage(*bkey);
      if (!usage.ok())
        return Client(usage.status(), RequestNamespace(ctx).value_or(""));
      resp->set_size(usage->bytes);
      resp->set_inodes(usage->inodes);
      return absl::OkStatus();
    });
  }

  // Removal is immediate here: nothing is left for a cleanup to reclaim.
  grpc::Status Cleanup(grpc::ServerContext* ctx, const v1::CleanupRequest* req,
                       google::protobuf::Empty*) override {
    return Handle([&]() -> absl::Status {
      return Namespace(ctx, req->snapshotter()).status();
    });
  }

 private:
  // The call's namespace, once `snapshotter` names the one cradled runs
  // ("" means it, as containerd's default).
  absl::StatusOr<std::string> Namespace(const grpc::ServerContext* ctx,
                                        const std::string& snapshotter) {
    if (!snapshotter.empty() && snapshotter != deps_.snapshotter_name) {
      // containerd's words: "snapshotter not loaded: X: invalid argument".
      return absl::InvalidArgumentError(
          absl::StrCat("snapshotter not loaded: ", snapshotter,
                       " (cradled runs \"", deps_.snapshotter_name, "\")"));
    }
    return RequestNamespace(ctx);
  }

  // The backend key of the call's `key`.
  absl::StatusOr<std::string> Resolve(const grpc::ServerContext* ctx,
                                      const std::string& snapshotter,
                                      const std::string& key) {
    absl::StatusOr<std::string> ns = Namespace(ctx, snapshotter);
    if (!ns.ok()) return ns.status();
    if (absl::Status s = ValidateClientSnapshotKey(*ns, key); !s.ok()) return s;
    return BackendSnapshotKey(*ns, key);
  }

  // A backend error as the client should read it: the backend names its
  // own keys, which outside k8s.io carry the namespace prefix.
  static absl::Status Client(const absl::Status& s, absl::string_view ns) {
    if (ns == kCriNamespace) return s;
    return absl::Status(
        s.code(),
        absl::StrReplaceAll(s.message(), {{absl::StrCat(ns, "/"), ""}}));
  }

  SnapshotRecord NewRecord(const std::string& bkey, Labels labels) const {
    SnapshotRecord r;
    r.snapshotter = deps_.snapshotter_name;
    r.key = bkey;
    r.labels = std::move(labels);
    return r;
  }

  absl::StatusOr<SnapshotRecord> GetRecord(const std::string& ns,
                                           const std::string& bkey) {
    absl::StatusOr<cradle::Record> r =
        deps_.metadata->Get(ns, NewRecord(bkey, {}));
    if (!r.ok()) return r.status();
    if (auto* s = std::get_if<SnapshotRecord>(&*r)) return *s;
    return absl::InternalError("metadata returned a non-snapshot record");
  }

  // Puts backend snapshot `bkey` in the call's lease, if it names one.
  absl::Status HoldInLease(const grpc::ServerContext* ctx,
                           const std::string& ns, const std::string& bkey) {
    std::string lease = RequestLease(ctx);
    if (lease.empty()) return absl::OkStatus();
    return deps_.metadata->AddLeaseResource(
        ns, lease,
        {LeaseResource::Type::kSnapshot,
         absl::StrCat(deps_.snapshotter_name, "/", bkey)});
  }

  absl::Status Create(
      grpc::ServerContext* ctx, const std::string& snapshotter,
      const std::string& key, const std::string& parent, const Labels& labels,
      SnapshotKind kind,
      google::protobuf::RepeatedPtrField<containerd::types::Mount>*
          mounts_out) {
    absl::StatusOr<std::string> ns = Namespace(ctx, snapshotter);
    if (!ns.ok()) return ns.status();
    if (absl::Status s = ValidateClientSnapshotKey(*ns, key); !s.ok()) return s;
    if (absl::Status s = CheckLabels("snapshot", labels); !s.ok()) return s;
    if (!parent.empty()) {
      if (absl::Status s = ValidateClientSnapshotKey(*ns, parent); !s.ok())
        return s;
    }
    std::string bkey = BackendSnapshotKey(*ns, key);
    std::string bparent = BackendSnapshotKey(*ns, parent);
    if (absl::Status s = HoldInLease(ctx, *ns, bkey); !s.ok()) return s;
    absl::StatusOr<std::vector<Mount>> mounts =
        kind == SnapshotKind::kView
            ? deps_.snapshotter->View(bkey, bparent, labels)
            : deps_.snapshotter->Prepare(bkey, bparent, labels);
    if (!mounts.ok()) return Client(mounts.status(), *ns);
    MetadataBatch batch;
    batch.Put(*ns, NewRecord(bkey, labels));
    if (absl::Status s = deps_.metadata->Apply(batch); !s.ok()) {
      // Unrecorded, the snapshot would be the collector's at once: undo it.
      (void)deps_.snapshotter->Remove(bkey);
      return s;
    }
    ToProto(*mounts, mounts_out);
    containerd::events::SnapshotPrepare event;
    event.set_key(key);
    event.set_parent(parent);
    Publish(*ns, "/snapshot/prepare", event);
    return absl::OkStatus();
  }

  void FillInfo(const std::string& ns, const SnapshotInfo& info,
                const SnapshotRecord* record, v1::Info* out) const {
    out->set_name(ClientSnapshotKey(ns, info.name));
    out->set_parent(ClientSnapshotKey(ns, info.parent));
    out->set_kind(KindToProto(info.kind));
    *out->mutable_created_at() = ToProto(info.created_at);
    absl::Time updated = info.updated_at;
    if (record != nullptr && record->updated_at > updated)
      updated = record->updated_at;
    *out->mutable_updated_at() = ToProto(updated);
    const Labels& labels = record != nullptr ? record->labels : info.labels;
    out->mutable_labels()->insert(labels.begin(), labels.end());
  }

  void Publish(const std::string& ns, absl::string_view topic,
               const google::protobuf::Message& event) {
    if (deps_.events != nullptr) deps_.events->Publish(ns, topic, event);
  }

  const ContainerdApiDeps deps_;  // a copy: its pointers outlive us
};

}  // namespace

std::unique_ptr<grpc::Service> NewSnapshotsService(
    const ContainerdApiDeps& deps) {
  return std::make_unique<SnapshotsService>(deps);
}

}  // namespace cradle::containerd_api
