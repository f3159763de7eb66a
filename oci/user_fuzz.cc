// Fuzzes the image/CRI user text. What ImageStatus reports and what the
// spec builder runs must agree: a reported uid is exactly the parsed uid,
// and a parsed name is never reported as a uid.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "oci/user.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace oci = cradle::oci;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<oci::UserSpec> spec = oci::ParseUserSpec(text);
  oci::ReportedUser reported = oci::ReportImageUser(text);
  if (spec.ok()) {
    if (spec->uid.has_value() == !spec->name.empty()) abort();
    if (spec->uid && *spec->uid > oci::kMaxId) abort();
    if (spec->gid && !spec->group.empty()) abort();
    if (!text.empty() &&
        (reported.uid !=
         (spec->uid ? std::optional<int64_t>(*spec->uid) : std::nullopt))) {
      abort();
    }
  } else if (reported.uid || reported.username.empty()) {
    abort();  // unrunnable users are reported as names, never as uids
  }
  if (std::optional<uint32_t> id = oci::ParseId(text);
      id && (std::to_string(*id).size() > text.size() || *id > oci::kMaxId)) {
    abort();
  }
  return 0;
}
