// Kubernetes' port-forward protocol (portforward.k8s.io) over SPDY: for
// each forwarded connection the client opens a data stream and an error
// stream that share a request id and name the pod port.
#ifndef CRADLE_STREAMING_PORT_FORWARD_H_
#define CRADLE_STREAMING_PORT_FORWARD_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "streaming/runtime.h"
#include "streaming/spdy/session.h"
#include "streaming/stream_timeouts.h"

namespace cradle::streaming {

inline constexpr char kPortForwardProtocol[] = "portforward.k8s.io";

struct PortForwardRequest {
  std::string pod_id;
  // Ports the token allows; empty allows any.
  std::vector<int32_t> ports;
};

// Forwarded connections one client connection may run at once; a stream
// pair past it is refused. kubectl port-forward carries every local TCP
// connection (a browser's, a database pool's) on one SPDY connection, so
// this is as many as the session's stream cap lets pairs be open.
inline constexpr size_t kMaxForwardsPerConnection =
    spdy::Session::kMaxOpenStreams / 2;

// Serves forwarded connections until the client hangs up or the connection
// is idle for `timeouts.idle`; closes `fd`, calling `before_close` (if any)
// just before. An unpaired stream is dropped after `timeouts.creation`.
void ServePortForwardOverSpdy(int fd, std::string pending,
                              const PortForwardRequest& request,
                              StreamingRuntime* runtime,
                              const StreamTimeouts& timeouts,
                              std::function<void()> before_close = nullptr);

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_PORT_FORWARD_H_
