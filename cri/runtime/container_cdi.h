// The CDI devices a CRI container asks for, injected into its spec input.
#ifndef CRADLE_CRI_RUNTIME_CONTAINER_CDI_H_
#define CRADLE_CRI_RUNTIME_CONTAINER_CDI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cri/api/runtime/v1/cri.h"
#include "runc_driver/spec/spec.h"

namespace cradle {

// The annotation prefix of the older way to ask for CDI devices (before
// the CRI's CDI_devices field), still honoured as containerd does.
inline constexpr char kCdiAnnotationPrefix[] = "cdi.k8s.io/";

// The CDI device names `config` asks for: CDI_devices first, then those of
// every "cdi.k8s.io/<key>" annotation (comma-separated, in key order), each
// name once. InvalidArgument names an annotation holding a name that is
// not fully qualified (vendor.com/class=name).
absl::StatusOr<std::vector<std::string>> CdiDeviceNames(
    const runtime::v1::ContainerConfig& config);

// Resolves the CDI devices `config` asks for against the spec files of
// `spec_dirs`, read now (so a spec written by a driver just before the
// container is created is seen), and applies their edits to `in`. Nothing
// to do when it asks for none. InvalidArgument for a malformed name,
// NotFound for an unknown device (naming it and the dirs searched),
// FailedPrecondition for a host device node that is missing; `in` is
// untouched on error. `container_id` is for the log.
absl::Status ApplyCdiDevices(const runtime::v1::ContainerConfig& config,
                             const std::vector<std::string>& spec_dirs,
                             const std::string& container_id,
                             spec::ContainerSpecInput* in);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_CONTAINER_CDI_H_
