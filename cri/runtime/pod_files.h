// The files every container of a pod bind-mounts: /etc/resolv.conf,
// /etc/hosts and /etc/hostname, written into the pod's state dir.
#ifndef CRADLE_CRI_RUNTIME_POD_FILES_H_
#define CRADLE_CRI_RUNTIME_POD_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "cri/api/runtime/v1/cri.h"

namespace cradle {

// resolv.conf from the pod's DNSConfig, or the host's when it has none.
std::string ResolvConf(const runtime::v1::DNSConfig& dns, bool has_dns);
// hosts: the host's for host-network pods, else loopback names plus the
// pod's own hostname.
std::string HostsFile(bool host_network, const std::string& hostname);

// Writes resolv.conf, hosts and hostname into `dir`.
absl::Status WritePodFiles(const std::string& dir,
                           const runtime::v1::PodSandboxConfig& config,
                           bool host_network, const std::string& hostname);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_POD_FILES_H_
