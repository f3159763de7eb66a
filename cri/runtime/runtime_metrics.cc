#include "cri/runtime/runtime_metrics.h"

#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "cri/store/state.h"
#include "metrics/process.h"

namespace cradle {
namespace {

// The store's state names as label values: "ready", "notready", "running".
std::string PodLabel(PodState s) {
  return absl::AsciiStrToLower(PodStateName(s));
}

std::string ContainerLabel(ContainerState s) {
  return absl::AsciiStrToLower(
      absl::StripPrefix(ContainerStateName(s), "CONTAINER_"));
}

}  // namespace

void RegisterRuntimeMetrics(metrics::Registry* registry,
                            SandboxStore* sandboxes, ContainerStore* containers,
                            PodShims* shims) {
  metrics::Gauge* pods = registry->AddGauge(
      "cradle_pod_sandboxes", "Pod sandboxes by state.", {"state"});
  metrics::Gauge* ctrs = registry->AddGauge(
      "cradle_containers", "CRI containers by state (as stored).", {"state"});
  metrics::Gauge* shim_count = registry->AddGauge(
      "cradle_shims", "Pod shims cradled holds a connection to.", {});
  metrics::Gauge* shim_rss = registry->AddGauge(
      "cradle_shims_resident_memory_bytes",
      "Resident memory (VmRSS) of all pod shims together.", {});
  metrics::Gauge* shim_anon = registry->AddGauge(
      "cradle_shims_anon_memory_bytes",
      "Anonymous resident memory (RssAnon) of all pod shims together.", {});

  registry->AddCollector([=] {
    // Every state is written, 0 included, so a state that empties is seen
    // going to 0 rather than vanishing.
    std::map<std::string, int> by_state;
    for (PodState s :
         {PodState::kCreating, PodState::kReady, PodState::kNotReady}) {
      by_state[PodLabel(s)] = 0;
    }
    for (const PodRecord& pod : sandboxes->List())
      ++by_state[PodLabel(pod.state)];
    for (const auto& [state, n] : by_state) pods->Set({state}, n);

    by_state.clear();
    for (ContainerState s :
         {ContainerState::kCreated, ContainerState::kRunning,
          ContainerState::kExited, ContainerState::kUnknown}) {
      by_state[ContainerLabel(s)] = 0;
    }
    for (const CriContainer& c : containers->List()) {
      ++by_state[ContainerLabel(c.state)];
    }
    for (const auto& [state, n] : by_state) ctrs->Set({state}, n);

    std::map<std::string, int> pids = shims->ShimPids();
    double rss = 0, anon = 0;
    for (const auto& [pod_id, pid] : pids) {
      if (pid <= 0) continue;
      absl::StatusOr<metrics::ProcStatus> st = metrics::ReadProcStatus(pid);
      if (!st.ok()) continue;  // exited since
      rss += static_cast<double>(st->rss_bytes);
      anon += static_cast<double>(st->rss_anon_bytes);
    }
    shim_count->Set({}, static_cast<double>(pids.size()));
    shim_rss->Set({}, rss);
    shim_anon->Set({}, anon);
  });
}

}  // namespace cradle
