#include "cmd/cradled/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstring>
#include <string>

#include "glog/logging.h"

namespace cradle {
namespace {

void Notify(const std::string& state) {
  // 0: NOTIFY_SOCKET stays set for the next message. Children never see it:
  // Spawn drops it from an inherited environment.
  int r = sd_notify(0, state.c_str());
  if (r < 0) {
    // systemd then only learns by its start timeout; serving goes on.
    LOG(WARNING) << "sd_notify: " << strerror(-r);
  } else if (r > 0) {
    VLOG(1) << "told systemd: " << state;
  }
}

}  // namespace

void NotifyReady(const std::string& address) {
  Notify("READY=1\nSTATUS=serving CRI v1 on " + address);
}

void NotifyStopping() { Notify("STOPPING=1\nSTATUS=draining in-flight calls"); }

}  // namespace cradle
