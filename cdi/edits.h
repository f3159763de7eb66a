// Applying CDI container edits to the runtime-spec builder's input.
#ifndef CRADLE_CDI_EDITS_H_
#define CRADLE_CDI_EDITS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cdi/spec.h"
#include "runc_driver/spec/spec.h"

namespace cradle::cdi {

// Applies `edits` to `in`, as the CDI spec says:
//  - env entries replace those of the same key, else are appended;
//  - device nodes replace one at the same container path; a missing type,
//    major or minor is read from the host node (stat of hostPath, or of
//    path); uid/gid default to the container user's when not root;
//    block and char devices get a device-cgroup rule (permissions, "rwm"
//    by default);
//  - mounts replace one at the same container path; they must be binds
//    (type "" or "bind") with options among ro/rw, bind/rbind, the
//    propagations and nosuid/nodev/noexec/noatime/relatime/...;
//  - hooks are appended under their hook name;
//  - additional gids (other than 0) are added once to the user's.
// intelRdt and netDevices cannot be made here: logged (with `log_id`,
// e.g. "container=<id>"), then ignored.
// On error `in` may be half edited: apply to a copy (as Inject does).
// InvalidArgument for an edit that cannot be mapped; FailedPrecondition
// when a host device node is missing or does not match its declaration.
absl::Status ApplyEdits(const ContainerEdits& edits,
                        spec::ContainerSpecInput* in,
                        absl::string_view log_id = "");

// Reads the specs of `spec_dirs` now, resolves `names` and applies their
// edits to `in`; `in` is left untouched on any error. See
// Registry::Resolve for the errors of resolution.
absl::Status Inject(const std::vector<std::string>& spec_dirs,
                    const std::vector<std::string>& names,
                    spec::ContainerSpecInput* in,
                    absl::string_view log_id = "");

}  // namespace cradle::cdi

#endif  // CRADLE_CDI_EDITS_H_
