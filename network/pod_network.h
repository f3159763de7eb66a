// Pod networking: attach a pod's network namespace to the node's network and
// detach it again.
#ifndef CRADLE_NETWORK_POD_NETWORK_H_
#define CRADLE_NETWORK_POD_NETWORK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cradle {

struct PortMapping {
  int32_t host_port = 0;
  int32_t container_port = 0;
  std::string protocol = "tcp";  // "tcp", "udp", "sctp"
  std::string host_ip;
};

struct Bandwidth {
  int64_t ingress_rate = 0;  // bits per second
  int64_t ingress_burst = 0;
  int64_t egress_rate = 0;
  int64_t egress_burst = 0;
};

struct PodNetworkRequest {
  std::string pod_id;      // the sandbox id
  std::string netns_path;  // a pinned network namespace
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;
  std::string interface_name = "eth0";
  std::vector<PortMapping> port_mappings;
  std::optional<Bandwidth> bandwidth;
};

struct PodNetworkResult {
  std::vector<std::string>
      ips;                  // without prefix length, the first is the primary
  std::string result_json;  // the network's own answer, for verbose status
};

// Thread-safe: calls for different pods run concurrently.
class PodNetwork {
 public:
  virtual ~PodNetwork() = default;
  // OkStatus when pods can be networked; otherwise FailedPrecondition with an
  // actionable message (for the CRI NetworkReady condition).
  virtual absl::Status Ready() = 0;
  // Attaches the pod. On failure everything half-done is undone.
  virtual absl::StatusOr<PodNetworkResult> Setup(
      const PodNetworkRequest& request) = 0;
  // Detaches the pod. Idempotent: detaching a pod that is not attached, or
  // whose namespace is gone, succeeds.
  virtual absl::Status Teardown(const PodNetworkRequest& request) = 0;
  // Verifies the pod's attachment is intact (CNI CHECK where supported).
  virtual absl::Status Check(const PodNetworkRequest& request) = 0;
};

}  // namespace cradle

#endif  // CRADLE_NETWORK_POD_NETWORK_H_
