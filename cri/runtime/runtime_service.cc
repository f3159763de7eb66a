#include "cri/runtime/runtime_service.h"

namespace cradle {

RuntimeService::RuntimeService(RuntimeServiceOptions options)
    : options_(std::move(options)) {
  monitor_ = std::make_unique<ExitMonitor>(
      options_.shims,
      ExitMonitorHandlers{
          [this](const std::string& pod, const shim::ExitEvent& e) {
            OnShimExit(pod, e);
          },
          [this](const std::string& pod, ShimClient* shim) {
            return OnShimSync(pod, shim);
          },
          [this](const std::string& pod) { ReapDeadShim(pod); }});
}

RuntimeService::~RuntimeService() { monitor_.reset(); }

Runc& RuntimeService::RuncFor(const std::string& id) {
  std::string pod_id = id;  // a pod's infra container has the pod's id
  if (absl::StatusOr<CriContainer> c = options_.containers->Get(id); c.ok()) {
    pod_id = c->pod_id;
  }
  std::string handler;
  if (absl::StatusOr<PodRecord> pod = options_.sandboxes->Get(pod_id);
      pod.ok()) {
    handler = pod->runtime_handler;
  }
  return *options_.handlers->ForRecord(handler).runc;
}

}  // namespace cradle
