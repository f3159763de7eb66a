#include "cri/runtime/filters.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"
#include "nlohmann/json.hpp"

namespace cradle {
namespace {

void FillMetadata(const PodRecord& r, runtime::v1::PodSandboxMetadata* m) {
  m->set_name(r.name);
  m->set_namespace_(r.pod_namespace);
  m->set_uid(r.uid);
  m->set_attempt(r.attempt);
}

runtime::v1::PodSandboxState State(const PodRecord& r) {
  return r.ready() ? runtime::v1::SANDBOX_READY : runtime::v1::SANDBOX_NOTREADY;
}

}  // namespace

void RuntimeService::FillPodSandboxStatus(
    const PodRecord& record, runtime::v1::PodSandboxStatus* status) {
  const PodRecord* r = &record;  // the body as it was in the RPC
  runtime::v1::PodSandboxConfig config;
  config.ParseFromString(r->config);
  status->set_id(r->id);
  FillMetadata(*r, status->mutable_metadata());
  status->set_state(State(*r));
  status->set_created_at(absl::ToUnixNanos(r->created_at));
  if (r->ready() && !r->ips.empty()) {
    status->mutable_network()->set_ip(r->ips[0]);
    for (size_t i = 1; i < r->ips.size(); ++i) {
      status->mutable_network()->add_additional_ips()->set_ip(r->ips[i]);
    }
  }
  *status->mutable_linux()->mutable_namespaces()->mutable_options() =
      config.linux().security_context().namespace_options();
  status->mutable_labels()->insert(r->labels.begin(), r->labels.end());
  status->mutable_annotations()->insert(r->annotations.begin(),
                                        r->annotations.end());
  status->set_runtime_handler(r->runtime_handler);
}

grpc::Status RuntimeService::PodSandboxStatus(
    grpc::ServerContext*, const runtime::v1::PodSandboxStatusRequest* request,
    runtime::v1::PodSandboxStatusResponse* response) {
  absl::StatusOr<PodRecord> r =
      options_.sandboxes->Get(request->pod_sandbox_id());
  if (!r.ok()) return ToGrpc(r.status());
  FillPodSandboxStatus(*r, response->mutable_status());
  if (request->verbose()) {
    nlohmann::json info = {
        {"podDir", r->pod_dir},
        {"netns", r->netns_path},
        {"ipcns", r->ipcns_path},
        {"utsns", r->utsns_path},
        {"shm", r->shm_path},
        {"ips", r->ips},
        {"infraProcess", "none (namespaces pinned by bind mounts)"}};
    (*response->mutable_info())["info"] = info.dump();
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandbox(
    grpc::ServerContext*, const runtime::v1::ListPodSandboxRequest* request,
    runtime::v1::ListPodSandboxResponse* response) {
  const runtime::v1::PodSandboxFilter& filter = request->filter();
  std::vector<PodRecord> all = options_.sandboxes->List();
  std::vector<std::string> ids;
  for (const PodRecord& r : all) ids.push_back(r.id);
  std::string wanted_id;
  if (!filter.id().empty()) {
    absl::StatusOr<std::string> id =
        ResolveIdPrefix(ids, filter.id(), "pod sandbox");
    if (!id.ok()) return grpc::Status::OK;  // a filter that matches nothing
    wanted_id = *id;
  }
  for (const PodRecord& r : all) {
    if (!wanted_id.empty() && r.id != wanted_id) continue;
    if (filter.has_state() && filter.state().state() != State(r)) continue;
    if (!LabelsMatch(r.labels, filter.label_selector())) continue;
    runtime::v1::PodSandbox* out = response->add_items();
    out->set_id(r.id);
    FillMetadata(r, out->mutable_metadata());
    out->set_state(State(r));
    out->set_created_at(absl::ToUnixNanos(r.created_at));
    out->mutable_labels()->insert(r.labels.begin(), r.labels.end());
    out->mutable_annotations()->insert(r.annotations.begin(),
                                       r.annotations.end());
    out->set_runtime_handler(r.runtime_handler);
  }
  return grpc::Status::OK;
}

}  // namespace cradle
