// The RuntimeDefault seccomp profile, in the OCI runtime-spec form.
#ifndef CRADLE_RUNC_DRIVER_SPEC_SECCOMP_H_
#define CRADLE_RUNC_DRIVER_SPEC_SECCOMP_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace cradle::spec {

// An allowlist profile: everything a normal workload calls is allowed,
// calls that reach across the container boundary (module loading, kexec,
// clock setting, keyrings, namespace creation, mounting, tracing) fail with
// EPERM unless the container holds the capability that makes them
// legitimate. Names the running kernel's libseccomp does not know are left
// out, so runc never rejects the profile. `capabilities` are "CAP_*" names.
nlohmann::json RuntimeDefaultSeccomp(
    const std::vector<std::string>& capabilities);

}  // namespace cradle::spec

#endif  // CRADLE_RUNC_DRIVER_SPEC_SECCOMP_H_
