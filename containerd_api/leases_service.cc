#include "containerd_api/leases_service.h"

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "containerd_api/api_context.h"
#include "containerd_api/proto/services/leases/v1/leases.grpc.pb.h"
#include "containerd_api/snapshot_keys.h"
#include "images/garbage.h"
#include "images/puller.h"

namespace cradle::containerd_api {
namespace {

namespace pb = ::containerd::services::leases::v1;

// containerd's label for when a lease runs out (RFC 3339).
constexpr char kExpireLabel[] = "containerd.io/gc.expire";
// containerd's resource types: "content", "snapshots/<snapshotter>",
// "ingests".
constexpr char kContentType[] = "content";
constexpr char kSnapshotsPrefix[] = "snapshots/";
constexpr char kIngestsType[] = "ingests";

absl::StatusOr<LeaseResource> FromProto(absl::string_view ns,
                                        const pb::Resource& r) {
  LeaseResource out;
  if (r.id().empty()) {
    return absl::InvalidArgumentError("lease resource id must be set");
  }
  if (r.type() == kContentType) {
    absl::StatusOr<Digest> d = Digest::Parse(r.id());
    if (!d.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("content resource \"", r.id(),
                       "\" is not a digest: ", d.status().message()));
    }
    out.type = LeaseResource::Type::kContent;
    out.id = d->ToString();
  } else if (absl::StartsWith(r.type(), kSnapshotsPrefix)) {
    std::string snapshotter = r.type().substr(sizeof(kSnapshotsPrefix) - 1);
    if (snapshotter.empty() || absl::StrContains(snapshotter, '/')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "lease resource type \"", r.type(),
          "\" must name one snapshotter: snapshots/<snapshotter>"));
    }
    if (absl::Status s = ValidateClientSnapshotKey(ns, r.id()); !s.ok())
      return s;
    out.type = LeaseResource::Type::kSnapshot;
    out.id = absl::StrCat(snapshotter, "/", BackendSnapshotKey(ns, r.id()));
  } else if (r.type() == kIngestsType) {
    out.type = LeaseResource::Type::kIngest;
    out.id = r.id();
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown lease resource type \"", r.type(),
                     "\": use content, snapshots/<snapshotter> or ingests"));
  }
  return out;
}

pb::Resource ToProto(absl::string_view ns, const LeaseResource& r) {
  pb::Resource out;
  switch (r.type) {
    case LeaseResource::Type::kContent:
      out.set_type(kContentType);
      out.set_id(r.id);
      break;
    case LeaseResource::Type::kSnapshot: {
      size_t slash = r.id.find('/');
      std::string snapshotter = r.id.substr(0, slash);
      std::string key =
          slash == std::string::npos ? "" : r.id.substr(slash + 1);
      std::string client = ClientSnapshotKey(ns, key);
      out.set_type(absl::StrCat(kSnapshotsPrefix, snapshotter));
      out.set_id(client.empty() ? key : client);
      break;
    }
    case LeaseResource::Type::kIngest:
      out.set_type(kIngestsType);
      out.set_id(r.id);
      break;
  }
  return out;
}

void ToProto(const LeaseRecord& r, pb::Lease* out) {
  out->set_id(r.id);
  out->mutable_labels()->insert(r.labels.begin(), r.labels.end());
  *out->mutable_created_at() = containerd_api::ToProto(r.created_at);
}

absl::Status NotFound(absl::string_view ns, absl::string_view id) {
  return absl::NotFoundError(
      absl::StrCat("lease \"", id, "\" not found in namespace ", ns));
}

class LeasesService final : public pb::Leases::Service {
 public:
  explicit LeasesService(const ContainerdApiDeps& deps) : deps_(deps) {}

  grpc::Status Create(grpc::ServerContext* ctx,
                      const pb::CreateRequest* request,
                      pb::CreateResponse* response) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    if (absl::Status s = CheckLabels("lease", request->labels()); !s.ok())
      return ToGrpc(s);
    // Only the CRI's puller makes pull leases; a client's could not be
    // deleted (Delete refuses them) until it expired.
    if (request->labels().contains(kPullLeaseLabel)) {
      return ToGrpc(absl::InvalidArgumentError(
          absl::StrCat("lease label \"", kPullLeaseLabel,
                       "\" is reserved for cradle's image pulls")));
    }
    LeaseRecord lease;
    lease.id = request->id();
    lease.labels = {request->labels().begin(), request->labels().end()};
    if (auto it = lease.labels.find(kExpireLabel); it != lease.labels.end()) {
      absl::Time expires;
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, it->second, &expires, &error)) {
        return ToGrpc(absl::InvalidArgumentError(
            absl::StrCat("label ", kExpireLabel, "=\"", it->second,
                         "\" is not an RFC 3339 time: ", error)));
      }
      lease.expires_at = expires;
    }
    absl::StatusOr<LeaseRecord> created =
        deps_.metadata->CreateLease(*ns, lease);
    if (created.status().code() == absl::StatusCode::kAlreadyExists) {
      return ToGrpc(absl::AlreadyExistsError(absl::StrCat(
          "lease \"", lease.id, "\" already exists in namespace ", *ns)));
    }
    if (!created.ok()) return ToGrpc(created.status());
    // The store sets the creation time; read it back.
    absl::StatusOr<LeaseRecord> stored =
        deps_.metadata->GetLease(*ns, created->id);
    ToProto(stored.ok() ? *stored : *created, response->mutable_lease());
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* ctx,
                      const pb::DeleteRequest* request,
                      google::protobuf::Empty*) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    if (request->id().empty()) {
      return ToGrpc(absl::InvalidArgumentError("lease id must be set"));
    }
    if (absl::Status s = RefuseCriPullLease(*ns, request->id()); !s.ok())
      return ToGrpc(s);
    absl::Status s = deps_.metadata->DeleteLease(*ns, request->id());
    if (s.code() == absl::StatusCode::kNotFound)
      return ToGrpc(NotFound(*ns, request->id()));
    if (!s.ok()) return ToGrpc(s);
    if (request->sync() && deps_.gc != nullptr) {
      absl::StatusOr<GcReport> report = deps_.gc->Collect();
      if (!report.ok()) {
        return ToGrpc(absl::Status(
            report.status().code(),
            absl::StrCat("lease deleted, but garbage collection failed: ",
                         report.status().message())));
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* ctx, const pb::ListRequest* request,
                    pb::ListResponse* response) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    absl::StatusOr<Filter> filter =
        Filter::Parse({request->filters().begin(), request->filters().end()});
    if (!filter.ok()) return ToGrpc(filter.status());
    absl::StatusOr<std::vector<LeaseRecord>> leases =
        deps_.metadata->ListLeases(*ns);
    if (!leases.ok()) return ToGrpc(leases.status());
    for (const LeaseRecord& l : *leases) {
      if (filter->Matches(FieldsAndLabels({{"id", l.id}}, l.labels)))
        ToProto(l, response->add_leases());
    }
    return grpc::Status::OK;
  }

  grpc::Status AddResource(grpc::ServerContext* ctx,
                           const pb::AddResourceRequest* request,
                           google::protobuf::Empty*) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    absl::StatusOr<LeaseResource> r = FromProto(*ns, request->resource());
    if (!r.ok()) return ToGrpc(r.status());
    absl::Status s =
        deps_.metadata->AddLeaseResource(*ns, request->id(), *std::move(r));
    if (s.code() == absl::StatusCode::kNotFound)
      return ToGrpc(NotFound(*ns, request->id()));
    return ToGrpc(s);
  }

  grpc::Status DeleteResource(grpc::ServerContext* ctx,
                              const pb::DeleteResourceRequest* request,
                              google::protobuf::Empty*) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    absl::StatusOr<LeaseResource> r = FromProto(*ns, request->resource());
    if (!r.ok()) return ToGrpc(r.status());
    if (absl::Status s = Exists(*ns, request->id()); !s.ok()) return ToGrpc(s);
    if (absl::Status s = RefuseCriPullLease(*ns, request->id()); !s.ok())
      return ToGrpc(s);
    LeaseResourceRecord record;
    record.lease_id = request->id();
    record.resource = *std::move(r);
    MetadataBatch batch;
    batch.Add(MetadataBatch::Action::kDeleteIfPresent, *ns, record);
    return ToGrpc(deps_.metadata->Apply(batch));
  }

  grpc::Status ListResources(grpc::ServerContext* ctx,
                             const pb::ListResourcesRequest* request,
                             pb::ListResourcesResponse* response) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    if (request->id().empty()) {
      return ToGrpc(absl::InvalidArgumentError("lease id must be set"));
    }
    absl::StatusOr<LeaseRecord> lease =
        deps_.metadata->GetLease(*ns, request->id());
    if (lease.status().code() == absl::StatusCode::kNotFound)
      return ToGrpc(NotFound(*ns, request->id()));
    if (!lease.ok()) return ToGrpc(lease.status());
    for (const LeaseResource& r : lease->resources)
      *response->add_resources() = ToProto(*ns, r);
    return grpc::Status::OK;
  }

 private:
  // FailedPrecondition when lease `id` of the CRI's namespace is an image
  // pull's: the pull's blobs and snapshots are held by nothing else until
  // its image is recorded, so the next collection would take them.
  absl::Status RefuseCriPullLease(absl::string_view ns, absl::string_view id) {
    if (ns != kCriNamespace) return absl::OkStatus();
    absl::StatusOr<LeaseRecord> lease = deps_.metadata->GetLease(ns, id);
    if (!lease.ok()) return absl::OkStatus();  // the caller reports it
    auto pull = lease->labels.find(kPullLeaseLabel);
    if (pull == lease->labels.end()) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "lease \"", id, "\" belongs to a CRI image pull in progress (",
        pull->second, "); it goes when the pull ends, or expires at ",
        absl::FormatTime(absl::RFC3339_sec, lease->expires_at,
                         absl::UTCTimeZone()),
        " after a crash"));
  }

  absl::Status Exists(absl::string_view ns, absl::string_view id) {
    if (id.empty()) return absl::InvalidArgumentError("lease id must be set");
    absl::StatusOr<LeaseRecord> lease = deps_.metadata->GetLease(ns, id);
    if (lease.status().code() == absl::StatusCode::kNotFound)
      return NotFound(ns, id);
    return lease.status();
  }

  const ContainerdApiDeps& deps_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewLeasesService(const ContainerdApiDeps& deps) {
  return std::make_unique<LeasesService>(deps);
}

}  // namespace cradle::containerd_api
