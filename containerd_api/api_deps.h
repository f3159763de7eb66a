// What the containerd API services are given by cradled's main: the same
// stores the CRI uses, so both APIs see one node.
#ifndef CRADLE_CONTAINERD_API_API_DEPS_H_
#define CRADLE_CONTAINERD_API_API_DEPS_H_

#include <map>
#include <string>
#include <vector>

#include "content/content.h"
#include "metadata/metadata.h"
#include "snapshots/snapshotter.h"

namespace cradle {
class ImageGarbageCollector;
class ContainerStore;
class SandboxStore;
struct ApplyLimits;
}  // namespace cradle

namespace cradle::containerd_api {

class EventExchange;

struct ContainerdApiDeps {
  std::string version;   // cradled's
  std::string revision;  // build revision, may be empty
  std::string root;      // config root (persistent)
  std::string state;     // config state (tmpfs)

  MetadataStore* metadata = nullptr;
  ContentStore* content = nullptr;  // the shared blob backend, unnamespaced
  // The one snapshotter cradled runs, by the name containerd gives it.
  Snapshotter* snapshotter = nullptr;
  DirectApplier* applier = nullptr;  // same object as snapshotter
  std::string snapshotter_name;      // "overlayfs" or "native"
  std::string snapshot_root;
  const ApplyLimits* unpack_limits = nullptr;
  ImageGarbageCollector* gc = nullptr;
  EventExchange* events = nullptr;

  // The CRI's containers and pods (namespace k8s.io), to show them and to
  // refuse changes that would break them.
  ContainerStore* cri_containers = nullptr;
  SandboxStore* cri_sandboxes = nullptr;

  // Tasks: the shim and the OCI runtimes by containerd runtime name
  // ("io.containerd.runc.v2" -> "/usr/sbin/runc").
  std::string shim_binary;
  std::map<std::string, std::string> runtimes;
  std::string default_runtime = "io.containerd.runc.v2";
  bool systemd_cgroup = false;
};

// A service with work to do once the daemon has recovered and before it
// serves (the tasks service finds its shims again).
class Recoverable {
 public:
  virtual ~Recoverable() = default;
  virtual void Recover() = 0;
};

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_API_DEPS_H_
