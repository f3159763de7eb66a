// ContainerStatus.user: the uid, gid and supplementary groups a container's
// process really has.
#ifndef CRADLE_CRI_RUNTIME_CONTAINER_USER_H_
#define CRADLE_CRI_RUNTIME_CONTAINER_USER_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "cri/api/runtime/v1/cri.h"
#include "cri/store/container_store.h"
#include "runc_driver/spec/spec.h"

namespace cradle {

// The real uid, real gid and "Groups:" of a /proc/<pid>/status text;
// nullopt when a line is missing or unreadable.
std::optional<CriContainer::UserIds> ParseProcStatusIds(
    absl::string_view status);

// The ids recorded for a container from the spec's user: groups sorted
// and without repeats, as the kernel lists them.
CriContainer::UserIds RecordedIds(const spec::User& user);

// The container's ids: while it runs, what `<proc_root>/<pid>/status` says
// of its init (proc_root is "/proc" but for tests); otherwise, or when that
// cannot be read (the process just ended), what was recorded at create.
// Nothing when neither is known (a record from an older daemon).
std::optional<CriContainer::UserIds> CurrentIds(const CriContainer& c,
                                                const std::string& proc_root);

void ToCriUser(const CriContainer::UserIds& ids,
               runtime::v1::ContainerUser* out);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_CONTAINER_USER_H_
