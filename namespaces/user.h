// A pod's user namespace, pinned by a bind mount like its other namespaces,
// with the namespaces it must own (network, UTS, IPC) made inside it, so
// that root in the pod is root over its own network and hostname and over
// nothing of the host's.
#ifndef CRADLE_NAMESPACES_USER_H_
#define CRADLE_NAMESPACES_USER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "namespaces/pinned.h"

namespace cradle {

// Ids [inside, inside + size) in the namespace are host ids [host, ...).
struct IdRange {
  uint32_t inside = 0;
  uint32_t host = 0;
  uint32_t size = 0;
};

struct UserNamespaceMaps {
  std::vector<IdRange> uids;
  std::vector<IdRange> gids;
};

// InvalidArgument naming the problem unless each list is non-empty, at most
// 340 ranges (the kernel's limit), every range non-empty and inside 32 bits,
// and no two ranges of a list overlap inside or on the host.
absl::Status CheckMaps(const UserNamespaceMaps& maps);

// Creates a user namespace with `maps`, pinned at `user_path`, and one new
// namespace of each `owned` kind owned by it, pinned at its path; a UTS
// namespace gets `hostname`. Paths must not exist yet. On failure nothing
// stays pinned.
absl::Status CreatePinnedUserNamespace(
    absl::string_view user_path, const UserNamespaceMaps& maps,
    const std::vector<std::pair<NamespaceKind, std::string>>& owned,
    absl::string_view hostname = "");

// The id that host id `host` is inside a namespace with `ranges`; nullopt
// when it is not mapped.
std::optional<uint32_t> InsideId(const std::vector<IdRange>& ranges,
                                 uint32_t host);

// The host id of id `inside` of a namespace with `ranges`; nullopt when it
// is not mapped.
std::optional<uint32_t> HostId(const std::vector<IdRange>& ranges,
                               uint32_t inside);

// "0 100000 65536\n" lines, as /proc/<pid>/uid_map reads.
std::string MapText(const std::vector<IdRange>& ranges);

// The ranges of a /proc/<pid>/uid_map or gid_map text (its "outside" ids
// are the reader's); nullopt when a line is not three numbers.
std::optional<std::vector<IdRange>> ParseMapText(absl::string_view text);

}  // namespace cradle

#endif  // CRADLE_NAMESPACES_USER_H_
