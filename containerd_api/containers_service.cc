#include "containerd_api/containers_service.h"

#include <errno.h>
#include <google/protobuf/any.pb.h>
#include <string.h>
#include <sys/stat.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "containerd_api/api_context.h"
#include "containerd_api/event_exchange.h"
#include "containerd_api/proto/events/container.pb.h"
#include "containerd_api/proto/services/containers/v1/containers.grpc.pb.h"
#include "containerd_api/snapshot_keys.h"
#include "containerd_api/task_paths.h"

namespace cradle::containerd_api {
namespace {

namespace pb = ::containerd::services::containers::v1;
namespace ev = ::containerd::events;

// Record extensions cradle keeps for itself, never shown to clients: the
// runtime (a serialized Container.Runtime). A container record in k8s.io
// without it is the CRI's own. The spec is the record's `spec` as a
// serialized Any (binary, so the CRI's store never mistakes it for one of
// its JSON records).
constexpr char kReservedPrefix[] = "cradle.io/containerd.";
constexpr const char* kRuntimeKey = kContainerdRuntimeExtension;
// The runtime the CRI's containers run under, as containerd names it.
constexpr char kCriRuntime[] = "io.containerd.runc.v2";

bool CriOwned(absl::string_view ns, const ContainerRecord& r) {
  return ns == kCriNamespace && !r.extensions.count(kRuntimeKey);
}

// containerd's identifier rule: letters and digits, joined by single '.',
// '_' or '-', at most 76 bytes.
absl::Status ValidateId(absl::string_view id) {
  auto alnum = [](char c) { return absl::ascii_isalnum(c); };
  bool ok =
      !id.empty() && id.size() <= 76 && alnum(id.front()) && alnum(id.back());
  for (size_t i = 0; ok && i < id.size(); ++i) {
    char c = id[i];
    if (alnum(c)) continue;
    // front() and back() are alphanumeric, so i-1 and i+1 are in range.
    ok = (c == '.' || c == '_' || c == '-') && alnum(id[i - 1]) &&
         alnum(id[i + 1]);
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "container id \"", id,
        "\" is invalid: use letters and digits joined by single '.', '_' or "
        "'-', at most 76 bytes"));
  }
  return absl::OkStatus();
}

bool GcLabel(absl::string_view key) {
  return absl::StartsWith(key, "cradle.io/gc.");
}

absl::Status CheckClientFields(const pb::Container& c) {
  if (absl::Status s = CheckLabels("container", c.labels()); !s.ok()) return s;
  for (const auto& [key, value] : c.labels()) {
    if (GcLabel(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("container label \"", key, "\" is reserved for cradle"));
    }
  }
  for (const auto& [key, value] : c.extensions()) {
    if (key.empty() || absl::StartsWith(key, kReservedPrefix)) {
      return absl::InvalidArgumentError(
          absl::StrCat("container extension \"", key,
                       "\" is empty or reserved (", kReservedPrefix, "*)"));
    }
  }
  return absl::OkStatus();
}

void ToProto(absl::string_view ns, const ContainerRecord& r,
             pb::Container* out) {
  out->set_id(r.id);
  for (const auto& [key, value] : r.labels)
    if (!GcLabel(key)) (*out->mutable_labels())[key] = value;
  out->set_image(r.image);
  out->set_snapshotter(r.snapshotter);
  std::string client_key = ClientSnapshotKey(ns, r.snapshot_key);
  out->set_snapshot_key(client_key.empty() ? r.snapshot_key : client_key);
  *out->mutable_created_at() = containerd_api::ToProto(r.created_at);
  *out->mutable_updated_at() = containerd_api::ToProto(r.updated_at);
  if (CriOwned(ns, r)) {
    // The CRI's record holds its own state, not an OCI spec.
    out->mutable_runtime()->set_name(kCriRuntime);
    return;
  }
  for (const auto& [key, value] : r.extensions) {
    if (key == kRuntimeKey) {
      out->mutable_runtime()->ParseFromString(value);
    } else if (!absl::StartsWith(key, kReservedPrefix)) {
      (*out->mutable_extensions())[key].ParseFromString(value);
    }
  }
  if (!r.spec.empty()) out->mutable_spec()->ParseFromString(r.spec);
}

// Fields containerd's container filters name.
Filter::Lookup ContainerFields(const pb::Container& c) {
  std::map<std::string, std::string> fields = {
      {"id", c.id()},
      {"image", c.image()},
      {"runtime", c.runtime().name()},
      {"snapshotter", c.snapshotter()},
  };
  Filter::Lookup flat =
      FieldsAndLabels(fields, Labels(c.labels().begin(), c.labels().end()));
  std::string runtime = c.runtime().name();
  return [flat, runtime](const std::vector<std::string>& path,
                         std::string* value) {
    if (path.size() == 2 && path[0] == "runtime" && path[1] == "name") {
      *value = runtime;
      return true;
    }
    return flat(path, value);
  };
}

class ContainersService final : public pb::Containers::Service {
 public:
  explicit ContainersService(const ContainerdApiDeps& deps) : deps_(deps) {}

  grpc::Status Get(grpc::ServerContext* ctx,
                   const pb::GetContainerRequest* request,
                   pb::GetContainerResponse* response) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    absl::StatusOr<ContainerRecord> r = Load(*ns, request->id());
    if (!r.ok()) return ToGrpc(r.status());
    ToProto(*ns, *r, response->mutable_container());
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* ctx,
                    const pb::ListContainersRequest* request,
                    pb::ListContainersResponse* response) override {
    return ToGrpc(Each(ctx, *request, [&](pb::Container c) {
      *response->add_containers() = std::move(c);
      return true;
    }));
  }

  grpc::Status ListStream(
      grpc::ServerContext* ctx, const pb::ListContainersRequest* request,
      grpc::ServerWriter<pb::ListContainerMessage>* writer) override {
    return ToGrpc(Each(ctx, *request, [&](pb::Container c) {
      pb::ListContainerMessage m;
      *m.mutable_container() = std::move(c);
      return writer->Write(m);
    }));
  }

  grpc::Status Create(grpc::ServerContext* ctx,
                      const pb::CreateContainerRequest* request,
                      pb::CreateContainerResponse* response) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    const pb::Container& c = request->container();
    if (absl::Status s = ValidateId(c.id()); !s.ok()) return ToGrpc(s);
    if (absl::Status s = CheckClientFields(c); !s.ok()) return ToGrpc(s);
    if (c.runtime().name().empty()) {
      return ToGrpc(absl::InvalidArgumentError(
          absl::StrCat("container ", c.id(), ": runtime name must be set")));
    }
    if (!c.has_spec()) {
      return ToGrpc(absl::InvalidArgumentError(
          absl::StrCat("container ", c.id(), ": spec must be set")));
    }
    if (!c.snapshot_key().empty()) {
      if (c.snapshotter().empty()) {
        return ToGrpc(absl::InvalidArgumentError(absl::StrCat(
            "container ", c.id(), ": a snapshot key needs a snapshotter")));
      }
      if (absl::Status s = ValidateClientSnapshotKey(*ns, c.snapshot_key());
          !s.ok())
        return ToGrpc(s);
    }
    ContainerRecord r;
    r.id = c.id();
    r.image = c.image();
    r.labels = {c.labels().begin(), c.labels().end()};
    r.snapshotter = c.snapshotter();
    r.snapshot_key = BackendSnapshotKey(*ns, c.snapshot_key());
    r.spec = c.spec().SerializeAsString();
    r.extensions[kRuntimeKey] = c.runtime().SerializeAsString();
    for (const auto& [key, value] : c.extensions())
      r.extensions[key] = value.SerializeAsString();
    MetadataBatch batch;
    batch.Create(*ns, r);
    absl::Status s = deps_.metadata->Apply(batch);
    if (s.code() == absl::StatusCode::kAlreadyExists) {
      return ToGrpc(absl::AlreadyExistsError(absl::StrCat(
          "container \"", r.id, "\" already exists in namespace ", *ns)));
    }
    if (!s.ok()) return ToGrpc(s);
    absl::StatusOr<ContainerRecord> stored = Load(*ns, r.id);
    if (!stored.ok()) return ToGrpc(stored.status());
    ToProto(*ns, *stored, response->mutable_container());
    ev::ContainerCreate event;
    event.set_id(r.id);
    event.set_image(r.image);
    event.mutable_runtime()->set_name(c.runtime().name());
    if (c.runtime().has_options())
      *event.mutable_runtime()->mutable_options() = c.runtime().options();
    Publish(*ns, "/containers/create", event);
    return grpc::Status::OK;
  }

  grpc::Status Update(grpc::ServerContext* ctx,
                      const pb::UpdateContainerRequest* request,
                      pb::UpdateContainerResponse* response) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    const pb::Container& c = request->container();
    if (c.id().empty()) {
      return ToGrpc(absl::InvalidArgumentError("container id must be set"));
    }
    if (absl::Status s = CheckClientFields(c); !s.ok()) return ToGrpc(s);
    ContainerRecord r;
    {
      absl::MutexLock lock(&mu_);
      absl::StatusOr<ContainerRecord> old = LoadOwn(*ns, c.id());
      if (!old.ok()) return ToGrpc(old.status());
      r = *std::move(old);
      std::vector<std::string> paths(request->update_mask().paths().begin(),
                                     request->update_mask().paths().end());
      if (paths.empty()) {
        // A full replace may not change what is immutable.
        pb::Container::Runtime runtime;
        runtime.ParseFromString(r.extensions[kRuntimeKey]);
        if (c.runtime().name() != runtime.name()) {
          return ToGrpc(absl::InvalidArgumentError(absl::StrCat(
              "container ", c.id(), ": runtime name is immutable (",
              runtime.name(), ")")));
        }
        if (c.snapshotter() != r.snapshotter) {
          return ToGrpc(absl::InvalidArgumentError(
              absl::StrCat("container ", c.id(), ": snapshotter is immutable (",
                           r.snapshotter, ")")));
        }
        paths = {"labels", "spec", "extensions", "image", "snapshotkey"};
      }
      for (const std::string& path : paths) {
        if (absl::Status s = Apply(*ns, c, path, r); !s.ok()) return ToGrpc(s);
      }
      MetadataBatch batch;
      batch.Add(MetadataBatch::Action::kUpdate, *ns, r);
      if (absl::Status s = deps_.metadata->Apply(batch); !s.ok())
        return ToGrpc(s);
    }
    absl::StatusOr<ContainerRecord> stored = Load(*ns, c.id());
    if (!stored.ok()) return ToGrpc(stored.status());
    ToProto(*ns, *stored, response->mutable_container());
    ev::ContainerUpdate event;
    event.set_id(c.id());
    event.set_image(response->container().image());
    *event.mutable_labels() = response->container().labels();
    event.set_snapshot_key(response->container().snapshot_key());
    Publish(*ns, "/containers/update", event);
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* ctx,
                      const pb::DeleteContainerRequest* request,
                      google::protobuf::Empty*) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    {
      absl::MutexLock lock(&mu_);
      absl::StatusOr<ContainerRecord> old = LoadOwn(*ns, request->id());
      if (!old.ok()) return ToGrpc(old.status());
      // The task's record is the tasks service's proof the task exists (it
      // is written before the shim starts and removed last); deleting the
      // container under it would leave a running task with no container.
      if (absl::Status s = RefuseWithTask(*ns, request->id()); !s.ok())
        return ToGrpc(s);
      ContainerRecord r;
      r.id = request->id();
      MetadataBatch batch;
      batch.Delete(*ns, r);
      if (absl::Status s = deps_.metadata->Apply(batch); !s.ok())
        return ToGrpc(s);
    }
    ev::ContainerDelete event;
    event.set_id(request->id());
    Publish(*ns, "/containers/delete", event);
    return grpc::Status::OK;
  }

 private:
  // FailedPrecondition while the container has a task.
  absl::Status RefuseWithTask(const std::string& ns, const std::string& id) {
    std::string record = TaskRecordPath(deps_.state, ns, id);
    struct stat st;
    if (stat(record.c_str(), &st) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "container ", id, " has a task; delete the task first (ctr tasks rm ",
          id, ")"));
    }
    if (errno != ENOENT) {
      // Unknown is not absent: refusing keeps a live task's container.
      return absl::UnavailableError(
          absl::StrCat("cannot tell whether container ", id, " has a task (",
                       record, ": ", strerror(errno), "); try again"));
    }
    return absl::OkStatus();
  }

  // One field path of an update, from `c` onto `r`.
  static absl::Status Apply(absl::string_view ns, const pb::Container& c,
                            const std::string& path, ContainerRecord& r) {
    if (absl::StartsWith(path, "labels.")) {
      std::string key = path.substr(7);
      if (GcLabel(key)) {
        return absl::InvalidArgumentError(
            absl::StrCat("container label \"", key, "\" is reserved"));
      }
      auto it = c.labels().find(key);
      if (it == c.labels().end()) {
        r.labels.erase(key);
      } else {
        r.labels[key] = it->second;
      }
    } else if (absl::StartsWith(path, "extensions.")) {
      std::string key = path.substr(11);
      if (absl::StartsWith(key, kReservedPrefix)) {
        return absl::InvalidArgumentError(
            absl::StrCat("container extension \"", key, "\" is reserved"));
      }
      auto it = c.extensions().find(key);
      if (it == c.extensions().end()) {
        r.extensions.erase(key);
      } else {
        r.extensions[key] = it->second.SerializeAsString();
      }
    } else if (path == "labels") {
      Labels next;
      for (const auto& [key, value] : r.labels)
        if (GcLabel(key)) next[key] = value;
      next.insert(c.labels().begin(), c.labels().end());
      r.labels = std::move(next);
    } else if (path == "spec") {
      if (!c.has_spec()) {
        return absl::InvalidArgumentError(
            absl::StrCat("container ", c.id(), ": spec must be set"));
      }
      r.spec = c.spec().SerializeAsString();
    } else if (path == "extensions") {
      std::map<std::string, std::string> next;
      for (const auto& [key, value] : r.extensions)
        if (absl::StartsWith(key, kReservedPrefix)) next[key] = value;
      for (const auto& [key, value] : c.extensions())
        next[key] = value.SerializeAsString();
      r.extensions = std::move(next);
    } else if (path == "image") {
      r.image = c.image();
    } else if (path == "snapshotkey") {
      if (!c.snapshot_key().empty()) {
        if (absl::Status s = ValidateClientSnapshotKey(ns, c.snapshot_key());
            !s.ok())
          return s;
      }
      r.snapshot_key = BackendSnapshotKey(ns, c.snapshot_key());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot update field \"", path, "\" of container ", c.id(),
          ": labels, spec, extensions, image, snapshotkey and labels.<key>, "
          "extensions.<key> can be updated"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ContainerRecord> Load(absl::string_view ns,
                                       absl::string_view id) {
    if (id.empty())
      return absl::InvalidArgumentError("container id must be set");
    absl::StatusOr<ContainerRecord> r = deps_.metadata->GetContainer(ns, id);
    if (r.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(
          absl::StrCat("container \"", id, "\" not found in namespace ", ns));
    }
    return r;
  }

  // Load, refusing the CRI's containers (their record is the CRI's state).
  absl::StatusOr<ContainerRecord> LoadOwn(absl::string_view ns,
                                          absl::string_view id) {
    absl::StatusOr<ContainerRecord> r = Load(ns, id);
    if (r.ok() && CriOwned(ns, *r)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "container ", id, " is owned by the CRI; remove it with crictl rm"));
    }
    return r;
  }

  template <typename Sink>
  absl::Status Each(grpc::ServerContext* ctx,
                    const pb::ListContainersRequest& request, Sink sink) {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ns.status();
    absl::StatusOr<Filter> filter =
        Filter::Parse({request.filters().begin(), request.filters().end()});
    if (!filter.ok()) return filter.status();
    absl::StatusOr<std::vector<ContainerRecord>> records =
        deps_.metadata->ListContainers(*ns);
    if (!records.ok()) return records.status();
    for (const ContainerRecord& r : *records) {
      pb::Container c;
      ToProto(*ns, r, &c);
      if (!filter->Matches(ContainerFields(c))) continue;
      if (!sink(std::move(c))) break;  // the client went away
    }
    return absl::OkStatus();
  }

  void Publish(absl::string_view ns, absl::string_view topic,
               const google::protobuf::Message& event) {
    if (deps_.events != nullptr) deps_.events->Publish(ns, topic, event);
  }

  const ContainerdApiDeps& deps_;
  // Serialises read-modify-write of container records.
  absl::Mutex mu_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewContainersService(
    const ContainerdApiDeps& deps) {
  return std::make_unique<ContainersService>(deps);
}

}  // namespace cradle::containerd_api
