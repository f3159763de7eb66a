#include "containerd_api/namespaces_service.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "containerd_api/api_context.h"
#include "containerd_api/event_exchange.h"
#include "containerd_api/proto/events/namespace.pb.h"
#include "containerd_api/proto/services/namespaces/v1/namespace.grpc.pb.h"

namespace cradle::containerd_api {
namespace {

namespace pb = ::containerd::services::namespaces::v1;

class NamespacesService final : public pb::Namespaces::Service {
 public:
  explicit NamespacesService(const ContainerdApiDeps& deps) : deps_(deps) {}

  grpc::Status Get(grpc::ServerContext*, const pb::GetNamespaceRequest* request,
                   pb::GetNamespaceResponse* response) override {
    return ToGrpc(Describe(request->name(), response->mutable_namespace_()));
  }

  grpc::Status List(grpc::ServerContext*, const pb::ListNamespacesRequest*,
                    pb::ListNamespacesResponse* response) override {
    absl::StatusOr<std::vector<std::string>> names =
        deps_.metadata->ListNamespaces();
    if (!names.ok()) return ToGrpc(names.status());
    for (const std::string& name : *names) {
      absl::Status s = Describe(name, response->add_namespaces());
      if (!s.ok()) return ToGrpc(s);
    }
    return grpc::Status::OK;
  }

  grpc::Status Create(grpc::ServerContext* ctx,
                      const pb::CreateNamespaceRequest* request,
                      pb::CreateNamespaceResponse* response) override {
    const pb::Namespace& ns = request->namespace_();
    if (absl::Status s = ValidateNamespace(ns.name()); !s.ok())
      return ToGrpc(s);
    if (absl::Status s = CheckLabels("namespace", ns.labels()); !s.ok())
      return ToGrpc(s);
    Labels labels(ns.labels().begin(), ns.labels().end());
    {
      absl::MutexLock lock(&mu_);
      absl::StatusOr<bool> exists = Exists(ns.name());
      if (!exists.ok()) return ToGrpc(exists.status());
      if (*exists) {
        return ToGrpc(absl::AlreadyExistsError(
            absl::StrCat("namespace ", ns.name(), " already exists")));
      }
      if (absl::Status s =
              deps_.metadata->SetNamespaceLabels(ns.name(), labels);
          !s.ok())
        return ToGrpc(s);
    }
    *response->mutable_namespace_() = ns;
    ::containerd::events::NamespaceCreate event;
    event.set_name(ns.name());
    *event.mutable_labels() = ns.labels();
    Publish(ctx, ns.name(), "/namespaces/create", event);
    return grpc::Status::OK;
  }

  grpc::Status Update(grpc::ServerContext* ctx,
                      const pb::UpdateNamespaceRequest* request,
                      pb::UpdateNamespaceResponse* response) override {
    const pb::Namespace& ns = request->namespace_();
    if (absl::Status s = ValidateNamespace(ns.name()); !s.ok())
      return ToGrpc(s);
    if (absl::Status s = CheckLabels("namespace", ns.labels()); !s.ok())
      return ToGrpc(s);
    Labels labels;
    {
      absl::MutexLock lock(&mu_);
      absl::StatusOr<bool> exists = Exists(ns.name());
      if (!exists.ok()) return ToGrpc(exists.status());
      if (!*exists) return ToGrpc(NotFound(ns.name()));
      absl::StatusOr<Labels> old = StoredLabels(ns.name());
      if (!old.ok()) return ToGrpc(old.status());
      labels = *std::move(old);
      if (request->update_mask().paths().empty()) {
        labels = Labels(ns.labels().begin(), ns.labels().end());
      }
      for (const std::string& path : request->update_mask().paths()) {
        if (path == "labels") {
          labels = Labels(ns.labels().begin(), ns.labels().end());
        } else if (absl::StartsWith(path, "labels.")) {
          std::string key = path.substr(7);
          auto it = ns.labels().find(key);
          if (it == ns.labels().end()) {
            labels.erase(key);
          } else {
            labels[key] = it->second;
          }
        } else {
          return ToGrpc(absl::InvalidArgumentError(absl::StrCat(
              "cannot update field \"", path, "\" of namespace ", ns.name(),
              ": only labels and labels.<key> can be updated")));
        }
      }
      if (absl::Status s =
              deps_.metadata->SetNamespaceLabels(ns.name(), labels);
          !s.ok())
        return ToGrpc(s);
    }
    pb::Namespace* out = response->mutable_namespace_();
    out->set_name(ns.name());
    out->mutable_labels()->insert(labels.begin(), labels.end());
    ::containerd::events::NamespaceUpdate event;
    event.set_name(ns.name());
    *event.mutable_labels() = out->labels();
    Publish(ctx, ns.name(), "/namespaces/update", event);
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* ctx,
                      const pb::DeleteNamespaceRequest* request,
                      google::protobuf::Empty*) override {
    const std::string& name = request->name();
    if (absl::Status s = ValidateNamespace(name); !s.ok()) return ToGrpc(s);
    {
      absl::MutexLock lock(&mu_);
      absl::StatusOr<bool> exists = Exists(name);
      if (!exists.ok()) return ToGrpc(exists.status());
      if (!*exists) return ToGrpc(NotFound(name));
      absl::StatusOr<std::vector<std::string>> held = Holdings(name);
      if (!held.ok()) return ToGrpc(held.status());
      if (!held->empty()) {
        return ToGrpc(absl::FailedPreconditionError(absl::StrCat(
            "namespace ", name, " must be empty, but it still has ",
            absl::StrJoin(*held, ", "), "; remove them first")));
      }
      if (absl::Status s = deps_.metadata->DeleteNamespaceLabels(name); !s.ok())
        return ToGrpc(s);
    }
    ::containerd::events::NamespaceDelete event;
    event.set_name(name);
    Publish(ctx, name, "/namespaces/delete", event);
    return grpc::Status::OK;
  }

 private:
  static absl::Status NotFound(absl::string_view name) {
    return absl::NotFoundError(absl::StrCat("namespace ", name, " not found"));
  }

  absl::StatusOr<bool> Exists(absl::string_view name) {
    absl::StatusOr<std::vector<std::string>> names =
        deps_.metadata->ListNamespaces();
    if (!names.ok()) return names.status();
    return std::find(names->begin(), names->end(), name) != names->end();
  }

  // The labels set on the namespace; none when it only holds records.
  absl::StatusOr<Labels> StoredLabels(absl::string_view name) {
    absl::StatusOr<Labels> labels = deps_.metadata->GetNamespaceLabels(name);
    if (labels.status().code() == absl::StatusCode::kNotFound) return Labels();
    return labels;
  }

  absl::Status Describe(absl::string_view name, pb::Namespace* out) {
    if (absl::Status s = ValidateNamespace(name); !s.ok()) return s;
    absl::StatusOr<bool> exists = Exists(name);
    if (!exists.ok()) return exists.status();
    if (!*exists) return NotFound(name);
    absl::StatusOr<Labels> labels = StoredLabels(name);
    if (!labels.ok()) return labels.status();
    out->set_name(std::string(name));
    out->mutable_labels()->insert(labels->begin(), labels->end());
    return absl::OkStatus();
  }

  // What kinds of record the namespace still holds ("images", ...).
  absl::StatusOr<std::vector<std::string>> Holdings(absl::string_view name) {
    MetadataStore& md = *deps_.metadata;
    std::vector<std::string> out;
    auto check = [&](const char* what, const Record& prototype) {
      absl::StatusOr<std::vector<Record>> records = md.List(name, prototype);
      if (!records.ok()) return records.status();
      if (!records->empty()) out.push_back(what);
      return absl::OkStatus();
    };
    for (absl::Status s : {check("images", ImageRecord()),
                           check("containers", ContainerRecord()),
                           check("sandboxes", SandboxRecord()),
                           check("content", ContentRecord()),
                           check("snapshots", SnapshotRecord()),
                           check("leases", LeaseRecord())}) {
      if (!s.ok()) return s;
    }
    return out;
  }

  // containerd publishes in the caller's namespace; a client without one
  // gets the event in the namespace it acted on.
  void Publish(grpc::ServerContext* ctx, absl::string_view name,
               absl::string_view topic,
               const google::protobuf::Message& event) {
    if (deps_.events == nullptr) return;
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    deps_.events->Publish(ns.ok() ? *ns : std::string(name), topic, event);
  }

  const ContainerdApiDeps& deps_;
  // Serialises the check-then-write of namespace changes.
  absl::Mutex mu_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewNamespacesService(
    const ContainerdApiDeps& deps) {
  return std::make_unique<NamespacesService>(deps);
}

}  // namespace cradle::containerd_api
