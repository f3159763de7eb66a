// The names of CDI: vendors, classes, devices and the fully qualified
// "vendor.com/class=name" (declared in spec.h).
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cdi/spec.h"  // declares what is defined here

namespace cradle::cdi {
namespace {

bool Alnum(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c));
}

// `name` (a `what` in errors) starts with a letter (or, without
// `letter_first`, a letter or digit), ends with a letter or digit, and holds
// only letters, digits and the chars of `extra`.
absl::Status CheckName(absl::string_view what, absl::string_view name,
                       bool letter_first, absl::string_view extra) {
  if (name.empty())
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", name, "\" ", why));
  };
  bool first_ok = letter_first
                      ? absl::ascii_isalpha(static_cast<unsigned char>(name[0]))
                      : Alnum(name[0]);
  if (!first_ok) {
    return bad(letter_first ? "must start with a letter"
                            : "must start with a letter or digit");
  }
  if (!Alnum(name.back())) return bad("must end with a letter or digit");
  for (char c : name) {
    if (!Alnum(c) && extra.find(c) == absl::string_view::npos) {
      return bad(absl::StrCat("holds '", std::string(1, c),
                              "'; only letters, digits and \"", extra,
                              "\" are allowed"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateVendor(absl::string_view vendor) {
  return CheckName("vendor", vendor, /*letter_first=*/true, "-_.");
}

absl::Status ValidateClass(absl::string_view class_name) {
  return CheckName("class", class_name, /*letter_first=*/true, "-_.");
}

absl::Status ValidateDeviceName(absl::string_view name) {
  return CheckName("device name", name, /*letter_first=*/false, "-_.:");
}

absl::StatusOr<QualifiedName> ParseQualifiedName(absl::string_view name) {
  size_t slash = name.find('/');
  size_t eq = name.find('=');
  if (slash == absl::string_view::npos || eq == absl::string_view::npos ||
      eq < slash) {
    return absl::InvalidArgumentError(
        absl::StrCat("CDI device name \"", name,
                     "\" is not fully qualified (want vendor.com/class=name)"));
  }
  QualifiedName q{std::string(name.substr(0, slash)),
                  std::string(name.substr(slash + 1, eq - slash - 1)),
                  std::string(name.substr(eq + 1))};
  for (absl::Status s : {ValidateVendor(q.vendor), ValidateClass(q.class_name),
                         ValidateDeviceName(q.name)}) {
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("CDI device name \"", name, "\": ", s.message()));
    }
  }
  return q;
}

}  // namespace cradle::cdi
