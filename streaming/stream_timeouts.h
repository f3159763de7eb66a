// How long an upgraded streaming connection may wait on its client. The
// client holds a one-time token, but a stalled or vanished one must still
// give its connection and threads back.
#ifndef CRADLE_STREAMING_STREAM_TIMEOUTS_H_
#define CRADLE_STREAMING_STREAM_TIMEOUTS_H_

#include "absl/time/time.h"

namespace cradle::streaming {

struct StreamTimeouts {
  // From the upgrade until an exec or attach client has opened every stream
  // its request promised (the kubelet's default).
  absl::Duration creation = absl::Seconds(30);
  // A connection with no frame in either direction for this long is closed;
  // for port forwarding this also bounds a connection that never opens a
  // stream (the kubelet's and containerd's default stream idle timeout).
  absl::Duration idle = absl::Hours(4);
};

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_STREAM_TIMEOUTS_H_
