// PodNetwork over CNI plugins (the CNI spec 0.3/0.4/1.0 invocation protocol:
// environment variables in, network config on stdin, result on stdout).
//
// The network is the first .conf/.conflist/.json in the config dir by name,
// read at every call so a config dropped in after start takes effect (as the
// kubelet expects when NetworkReady turns true). Every pod also gets its
// loopback brought up (in-process, where containerd execs the loopback
// plugin).
#ifndef CRADLE_NETWORK_CNI_H_
#define CRADLE_NETWORK_CNI_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "network/pod_network.h"

namespace cradle {

struct CniOptions {
  std::string conf_dir;
  std::vector<std::string> bin_dirs;
  // Where each pod's ADD result and the config it used are kept, so DEL
  // works after a daemon restart and after the config dir changed.
  std::string cache_dir;
};

absl::StatusOr<std::unique_ptr<PodNetwork>> NewCniNetwork(CniOptions options);

}  // namespace cradle

#endif  // CRADLE_NETWORK_CNI_H_
