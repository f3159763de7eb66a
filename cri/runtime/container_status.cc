// ContainerStatus and ListContainers.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cri/runtime/container_user.h"
#include "cri/runtime/filters.h"
#include "cri/runtime/runtime_service.h"
#include "cri/runtime/stop_signal.h"
#include "cri/server/grpc_status.h"
#include "nlohmann/json.hpp"

namespace cradle {
namespace {

int64_t Nanos(absl::Time t) {
  return t == absl::UnixEpoch() ? 0 : absl::ToUnixNanos(t);
}

runtime::v1::ContainerState CriState(const CriContainer& c) {
  return static_cast<runtime::v1::ContainerState>(c.state);
}

void FillMetadata(const CriContainer& c, runtime::v1::ContainerMetadata* m) {
  m->set_name(c.name);
  m->set_attempt(c.attempt);
}

}  // namespace

void RuntimeService::FillContainerStatus(const CriContainer& c,
                                         runtime::v1::ContainerStatus* s) {
  runtime::v1::ContainerConfig config;
  config.ParseFromString(c.config);
  s->set_id(c.id);
  FillMetadata(c, s->mutable_metadata());
  s->set_state(CriState(c));
  s->set_created_at(Nanos(c.created_at));
  if (c.state != CriContainer::kCreated) {
    s->set_started_at(Nanos(c.started_at));
  }
  if (c.state == CriContainer::kExited) {
    s->set_finished_at(Nanos(c.finished_at));
    s->set_exit_code(c.exit_code);
    s->set_reason(c.reason);
    s->set_message(c.message);
  }
  s->mutable_image()->set_image(c.image_name);
  s->set_image_ref(c.image_ref);
  s->set_image_id(c.image_id);
  s->mutable_labels()->insert(config.labels().begin(), config.labels().end());
  s->mutable_annotations()->insert(config.annotations().begin(),
                                   config.annotations().end());
  for (const runtime::v1::Mount& m : config.mounts()) *s->add_mounts() = m;
  s->set_log_path(c.log_path);
  if (config.linux().has_resources()) {
    *s->mutable_resources()->mutable_linux() = config.linux().resources();
  }
  s->set_stop_signal(ReportedStopSignal(c.stop_signal));
  // The ids as recorded at create (no I/O here: events build statuses
  // too); ContainerStatus replaces them with the live ones while it runs.
  if (c.user) ToCriUser(*c.user, s->mutable_user());
}

grpc::Status RuntimeService::ContainerStatus(
    grpc::ServerContext*, const runtime::v1::ContainerStatusRequest* request,
    runtime::v1::ContainerStatusResponse* response) {
  absl::StatusOr<CriContainer> found =
      options_.containers->Get(request->container_id());
  if (!found.ok()) return ToGrpc(found.status());
  CriContainer c = Refresh(*found);
  FillContainerStatus(c, response->mutable_status());
  if (std::optional<CriContainer::UserIds> ids = CurrentIds(c, "/proc")) {
    response->mutable_status()->clear_user();
    ToCriUser(*ids, response->mutable_status()->mutable_user());
  }
  if (request->verbose()) {
    nlohmann::json info = {{"pid", c.pid},
                           {"sandboxID", c.pod_id},
                           {"snapshotKey", c.snapshot_key},
                           {"snapshotter", c.snapshotter},
                           {"bundle", c.bundle},
                           {"rootfs", c.rootfs}};
    (*response->mutable_info())["info"] = info.dump();
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListContainers(
    grpc::ServerContext*, const runtime::v1::ListContainersRequest* request,
    runtime::v1::ListContainersResponse* response) {
  const runtime::v1::ContainerFilter& f = request->filter();
  for (CriContainer c : options_.containers->List()) {
    if (!IdMatches(c.id, f.id()) || !IdMatches(c.pod_id, f.pod_sandbox_id()) ||
        !LabelsMatch(c.labels, f.label_selector())) {
      continue;
    }
    c = Refresh(c);
    if (f.has_state() && f.state().state() != CriState(c)) continue;
    runtime::v1::Container* out = response->add_containers();
    out->set_id(c.id);
    out->set_pod_sandbox_id(c.pod_id);
    FillMetadata(c, out->mutable_metadata());
    out->mutable_image()->set_image(c.image_name);
    out->set_image_ref(c.image_ref);
    out->set_image_id(c.image_id);
    out->set_state(CriState(c));
    out->set_created_at(Nanos(c.created_at));
    out->mutable_labels()->insert(c.labels.begin(), c.labels.end());
    out->mutable_annotations()->insert(c.annotations.begin(),
                                       c.annotations.end());
  }
  return grpc::Status::OK;
}

}  // namespace cradle
