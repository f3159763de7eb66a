// Kubernetes' port-forward protocol (portforward.k8s.io) over SPDY: for
// each forwarded connection the client opens a data stream and an error
// stream that share a request id and name the pod port.
#ifndef CRADLE_STREAMING_PORT_FORWARD_H_
#define CRADLE_STREAMING_PORT_FORWARD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "streaming/runtime.h"

namespace cradle::streaming {

inline constexpr char kPortForwardProtocol[] = "portforward.k8s.io";

struct PortForwardRequest {
  std::string pod_id;
  // Ports the token allows; empty allows any.
  std::vector<int32_t> ports;
};

// Serves forwarded connections until the client hangs up; closes `fd`.
void ServePortForwardOverSpdy(int fd, std::string pending,
                              const PortForwardRequest& request,
                              StreamingRuntime* runtime);

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_PORT_FORWARD_H_
