// Gauges of what the CRI runtime holds, read from its stores at each scrape
// (docs/metrics.md):
//   cradle_pod_sandboxes{state}        ready, notready, creating
//   cradle_containers{state}           created, running, exited, unknown
//   cradle_shims                       shims this daemon holds a client for
//   cradle_shims_resident_memory_bytes the sum of their VmRSS
//   cradle_shims_anon_memory_bytes     the sum of their RssAnon
#ifndef CRADLE_CRI_RUNTIME_RUNTIME_METRICS_H_
#define CRADLE_CRI_RUNTIME_RUNTIME_METRICS_H_

#include "cri/runtime/pod_shims.h"
#include "cri/store/container_store.h"
#include "cri/store/sandbox_store.h"
#include "metrics/metrics.h"

namespace cradle {

// The stores and shims are read, never changed, and must outlive every
// later scrape of `registry` (cradled stops its metrics server first).
void RegisterRuntimeMetrics(metrics::Registry* registry,
                            SandboxStore* sandboxes, ContainerStore* containers,
                            PodShims* shims);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_RUNTIME_METRICS_H_
