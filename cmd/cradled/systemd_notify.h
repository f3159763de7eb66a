// Tells systemd (a Type=notify unit) when cradled serves and when it stops,
// through sd_notify(3). Without NOTIFY_SOCKET in the environment (not started
// by systemd, or by a unit of another type) every call does nothing.
//
// Not a watchdog: a timer thread pinging WATCHDOG=1 would only prove that the
// process is scheduled, not that the CRI answers; the kubelet already probes
// the runtime through Status.
#ifndef CRADLE_CMD_CRADLED_SYSTEMD_NOTIFY_H_
#define CRADLE_CMD_CRADLED_SYSTEMD_NOTIFY_H_

#include <string>

namespace cradle {

// READY=1: the socket at `address` listens and its server answers. systemd
// then starts the units ordered After= this one (the kubelet).
void NotifyReady(const std::string& address);

// STOPPING=1: shutdown has begun; in-flight calls are being drained.
void NotifyStopping();

}  // namespace cradle

#endif  // CRADLE_CMD_CRADLED_SYSTEMD_NOTIFY_H_
