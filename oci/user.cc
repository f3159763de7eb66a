#include "oci/user.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace cradle::oci {
namespace {

constexpr size_t kMaxNameLength = 256;

bool AllDigits(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

// One part of a user spec: an id if it reads as one, else a name.
absl::Status ParsePart(absl::string_view part, absl::string_view what,
                       std::optional<uint32_t>* id, std::string* name) {
  if (std::optional<uint32_t> n = ParseId(part)) {
    *id = n;
    return absl::OkStatus();
  }
  if (!IsValidName(part)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " \"", absl::CHexEscape(part),
        "\" is neither an id in 0..4294967294 written in decimal digits nor "
        "a valid name"));
  }
  *name = std::string(part);
  return absl::OkStatus();
}

}  // namespace

std::optional<uint32_t> ParseId(absl::string_view text) {
  // 10 digits hold every uint32; more (even with leading zeros) is refused
  // rather than risk an overflow.
  if (text.empty() || text.size() > 10 || !AllDigits(text)) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) value = value * 10 + static_cast<uint64_t>(c - '0');
  if (value > kMaxId) return std::nullopt;
  return static_cast<uint32_t>(value);
}

bool IsValidName(absl::string_view text) {
  if (text.empty() || text.size() > kMaxNameLength || text == "." ||
      text == ".." || text.front() == '-' || AllDigits(text)) {
    return false;
  }
  if (text.back() == '$') text.remove_suffix(1);
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-')
      return false;
  }
  return true;
}

absl::StatusOr<UserSpec> ParseUserSpec(absl::string_view text) {
  UserSpec spec;
  absl::string_view user = text;
  absl::string_view group;
  if (size_t colon = text.find(':'); colon != absl::string_view::npos) {
    user = text.substr(0, colon);
    group = text.substr(colon + 1);
  }
  if (user.empty()) {
    spec.uid = 0;
  } else if (absl::Status s = ParsePart(user, "user", &spec.uid, &spec.name);
             !s.ok()) {
    return s;
  }
  if (!group.empty()) {
    if (absl::Status s = ParsePart(group, "group", &spec.gid, &spec.group);
        !s.ok()) {
      return s;
    }
  }
  return spec;
}

ReportedUser ReportImageUser(absl::string_view image_user) {
  ReportedUser out;
  if (image_user.empty()) return out;
  absl::StatusOr<UserSpec> spec = ParseUserSpec(image_user);
  if (spec.ok() && spec->uid) {
    out.uid = *spec->uid;
  } else if (spec.ok()) {
    out.username = spec->name;
  } else {
    // Not runnable at all; still never a uid, so runAsNonRoot refuses it.
    absl::string_view user = image_user.substr(0, image_user.find(':'));
    out.username = std::string(user.empty() ? image_user : user);
  }
  return out;
}

}  // namespace cradle::oci
