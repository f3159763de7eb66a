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

}  // namespace cradle
