// The user an image's config (`User`) or a CRI config names: "user",
// "uid", "user:group", "uid:gid", "uid:group", "user:gid".
//
// This is the one reading of that text. ImageStatus reports it to the
// kubelet (which decides runAsNonRoot from it) and the spec builder runs the
// container with it, so the two can never disagree about who the user is.
#ifndef CRADLE_OCI_USER_H_
#define CRADLE_OCI_USER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle::oci {

// The largest uid or gid accepted: 2^32-1 is (uid_t)-1, "no change" to the
// kernel's set*id calls, never a real id.
inline constexpr uint32_t kMaxId = 0xfffffffeu;

// A uid or gid written in plain decimal digits within [0, kMaxId]. No sign,
// no blanks, no hex: "-1", "+5", " 7", "0x10" and "4294967295" are not ids.
std::optional<uint32_t> ParseId(absl::string_view text);

// A user or group name as shadow's useradd accepts them by default: at most
// 256 of [A-Za-z0-9_.-], not starting with '-', an optional final '$', not
// all digits, not "." or "..".
bool IsValidName(absl::string_view text);

struct UserSpec {
  // Exactly one of `uid` and `name` is set. An empty user part is root.
  std::optional<uint32_t> uid;
  std::string name;
  // At most one of `gid` and `group` is set; neither without a group part.
  std::optional<uint32_t> gid;
  std::string group;
};

// Splits at the first ':' and reads each part as an id, else a name.
// InvalidArgument when a part is neither (such a user never runs).
absl::StatusOr<UserSpec> ParseUserSpec(absl::string_view text);

// What the CRI Image message says about an image's user: `uid` when the
// container runs as that number, otherwise `username` (which the kubelet
// cannot prove non-root). Both unset when the image names no user.
struct ReportedUser {
  std::optional<int64_t> uid;
  std::string username;
};
ReportedUser ReportImageUser(absl::string_view image_user);

}  // namespace cradle::oci

#endif  // CRADLE_OCI_USER_H_
