// GetContainerEvents, the kubelet's evented PLEG, and the publishing of the
// events it streams.
//
// Each event carries its pod's status and the statuses of the pod's
// containers, as containerd sends them, built from the records: the
// publishers are RPCs and the exit monitor, which must not wait on a shim.
// A DELETED event is published after the record is gone, so the deleted
// container is not among the statuses. The pod itself has events too,
// with container_id == the pod's id: CREATED and STARTED once READY,
// STOPPED on leaving READY, DELETED with the removed pod's last status.
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"
#include "glog/logging.h"

namespace cradle {
namespace {

// How long a stream waits for an event before it looks again whether its
// client cancelled: the bound on how long a dead client holds its thread.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(200);

}  // namespace

grpc::Status RuntimeService::GetContainerEvents(
    grpc::ServerContext* context, const runtime::v1::GetEventsRequest*,
    grpc::ServerWriter<runtime::v1::ContainerEventResponse>* writer) {
  // From here on only the subscription is used: it stays valid even if
  // the service is torn down under a stream.
  std::unique_ptr<ContainerEvents::Subscription> subscription =
      events_.Subscribe();
  const uint64_t id = subscription->id();
  LOG(INFO) << "container events: subscriber " << id << " (" << context->peer()
            << ") subscribed";
  while (!context->IsCancelled()) {
    absl::StatusOr<std::shared_ptr<const runtime::v1::ContainerEventResponse>>
        next = subscription->Next(kCancelPoll);
    if (absl::IsDeadlineExceeded(next.status())) continue;
    if (!next.ok()) {
      // Fell behind (RESOURCE_EXHAUSTED) or the daemon stops.
      if (absl::IsResourceExhausted(next.status())) {
        LOG(WARNING) << "container events: subscriber " << id
                     << " dropped: " << next.status().message();
      } else {
        LOG(INFO) << "container events: subscriber " << id
                  << " ends: " << next.status().message();
      }
      return ToGrpc(next.status());
    }
    // Blocks while the client does not read; the queue meanwhile fills
    // and drops the subscription, so the publishers never wait on it.
    if (!writer->Write(**next)) break;  // the client went away
  }
  LOG(INFO) << "container events: subscriber " << id << " left";
  return grpc::Status(grpc::StatusCode::CANCELLED,
                      "GetContainerEvents: cancelled by the client");
}

void RuntimeService::PublishContainerEvent(
    const std::string& id, const std::string& pod_id,
    runtime::v1::ContainerEventType type) {
  absl::MutexLock lock(&events_mu_);
  PublishContainerEventLocked(id, pod_id, type);
}

void RuntimeService::PublishContainerEventLocked(
    const std::string& id, const std::string& pod_id,
    runtime::v1::ContainerEventType type) {
  if (!events_.HasSubscribers()) return;
  absl::StatusOr<PodRecord> pod = options_.sandboxes->Get(pod_id);
  PublishEventLocked(id, pod_id, pod.ok() ? &*pod : nullptr, type);
}

void RuntimeService::PublishEventLocked(const std::string& id,
                                        const std::string& pod_id,
                                        const PodRecord* pod,
                                        runtime::v1::ContainerEventType type) {
  if (!events_.HasSubscribers()) return;
  auto event = std::make_shared<runtime::v1::ContainerEventResponse>();
  event->set_container_id(id);
  event->set_container_event_type(type);
  event->set_created_at(absl::ToUnixNanos(absl::Now()));
  if (pod != nullptr) {
    FillPodSandboxStatus(*pod, event->mutable_pod_sandbox_status());
  }
  for (const CriContainer& c : options_.containers->ListInPod(pod_id)) {
    FillContainerStatus(c, event->add_containers_statuses());
  }
  VLOG(1) << "pod=" << pod_id << " container=" << id << " event "
          << runtime::v1::ContainerEventType_Name(type);
  events_.Publish(std::move(event));
}

absl::Status RuntimeService::SetPodReady(const PodRecord& r) {
  // Held across the change: an infra that exits at once is recorded
  // NOTREADY (and its STOPPED published) only after these two.
  absl::MutexLock lock(&events_mu_);
  if (absl::Status s = options_.sandboxes->Update(r); !s.ok()) return s;
  PublishEventLocked(r.id, r.id, &r, runtime::v1::CONTAINER_CREATED_EVENT);
  PublishEventLocked(r.id, r.id, &r, runtime::v1::CONTAINER_STARTED_EVENT);
  return absl::OkStatus();
}

absl::Status RuntimeService::SetPodNotReady(const std::string& pod_id,
                                            PodRecord* out) {
  absl::MutexLock lock(&events_mu_);
  PodRecord stored;
  bool was_ready = false;  // read under the store's lock: one caller wins
  absl::Status s = options_.sandboxes->Mutate(
      pod_id,
      [&](PodRecord& p) {
        was_ready = p.ready();
        p.state = PodState::kNotReady;
      },
      &stored);
  if (!s.ok()) return s;
  if (out != nullptr) *out = stored;
  if (was_ready) {
    PublishEventLocked(pod_id, pod_id, &stored,
                       runtime::v1::CONTAINER_STOPPED_EVENT);
  }
  return absl::OkStatus();
}

absl::Status RuntimeService::RemovePodRecord(const PodRecord& r) {
  // Held across the removal: no STOPPED of this pod can follow DELETED
  // (SetPodNotReady finds no record then).
  absl::MutexLock lock(&events_mu_);
  if (absl::Status s = options_.sandboxes->Remove(r.id); !s.ok()) return s;
  PublishEventLocked(r.id, r.id, &r, runtime::v1::CONTAINER_DELETED_EVENT);
  return absl::OkStatus();
}

void RuntimeService::ContainerExited(const CriContainer& c) {
  if (starting_.count(c.id)) {
    stop_held_.insert(c.id);  // StartEnds publishes it after STARTED
    return;
  }
  PublishContainerEventLocked(c.id, c.pod_id,
                              runtime::v1::CONTAINER_STOPPED_EVENT);
}

void RuntimeService::StartBegins(const std::string& id) {
  absl::MutexLock lock(&events_mu_);
  ++starting_[id];
}

void RuntimeService::StartEnds(const std::string& id, const std::string& pod_id,
                               bool started) {
  absl::MutexLock lock(&events_mu_);
  if (auto it = starting_.find(id); it != starting_.end() && --it->second == 0)
    starting_.erase(it);
  if (started) {
    PublishContainerEventLocked(id, pod_id,
                                runtime::v1::CONTAINER_STARTED_EVENT);
  }
  if (!starting_.count(id) && stop_held_.erase(id)) {
    PublishContainerEventLocked(id, pod_id,
                                runtime::v1::CONTAINER_STOPPED_EVENT);
  }
}

}  // namespace cradle
