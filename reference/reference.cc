#include "reference/reference.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace cradle {
namespace {

constexpr char kDockerHub[] = "docker.io";
constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("image reference \"", text, "\": ", why));
}

bool IsAlnumLower(char c) {
  return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'z');
}

// A path component: lowercase alphanumerics joined by ".", "_", "__" or runs
// of "-".
bool ValidComponent(absl::string_view c) {
  if (c.empty() || !IsAlnumLower(c.front()) || !IsAlnumLower(c.back()))
    return false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (IsAlnumLower(ch) || ch == '-') continue;
    if (ch == '.' || ch == '_') {
      // Separators never touch each other, except the single "__".
      char next = c[i + 1];
      if (ch == '_' && next == '_') {
        ++i;
        if (!IsAlnumLower(c[i + 1])) return false;
        continue;
      }
      if (!IsAlnumLower(next)) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool ValidTag(absl::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagLength) return false;
  if (!(absl::ascii_isalnum(tag[0]) || tag[0] == '_')) return false;
  for (char c : tag) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

// A domain is host[:port]; hosts are alphanumerics, "-" and "." (or an IPv6
// literal in brackets).
bool ValidDomain(absl::string_view domain) {
  if (domain.empty()) return false;
  absl::string_view host = domain;
  if (domain.front() == '[') {
    // An IPv6 literal: hex digits, ':' and '.' (embedded IPv4), then an
    // optional port. Anything else would end up in a URL's authority.
    size_t close = domain.find(']');
    if (close == absl::string_view::npos || close == 1) return false;
    for (char c : domain.substr(1, close - 1)) {
      if (!(absl::ascii_isxdigit(c) || c == ':' || c == '.')) return false;
    }
    absl::string_view port = domain.substr(close + 1);
    if (port.empty()) return true;
    if (port.size() < 2 || port.front() != ':') return false;
    for (char c : port.substr(1)) {
      if (!absl::ascii_isdigit(c)) return false;
    }
    return true;
  }
  if (size_t colon = domain.rfind(':'); colon != absl::string_view::npos) {
    absl::string_view port = domain.substr(colon + 1);
    if (port.empty()) return false;
    for (char c : port) {
      if (!absl::ascii_isdigit(c)) return false;
    }
    host = domain.substr(0, colon);
  }
  if (host.empty()) return false;
  for (char c : host) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '.')) return false;
  }
  return true;
}

// The first component is a registry when it could not be a repository name:
// it has a "." or ":", or is "localhost" (the distribution grammar's rule).
bool LooksLikeDomain(absl::string_view first) {
  return first.find('.') != absl::string_view::npos ||
         first.find(':') != absl::string_view::npos || first == "localhost" ||
         (!first.empty() && first.front() == '[');
}

}  // namespace

absl::StatusOr<ImageReference> ImageReference::Parse(absl::string_view text) {
  if (text.empty()) return Invalid(text, "empty");
  ImageReference ref;
  absl::string_view rest = text;

  if (size_t at = rest.find('@'); at != absl::string_view::npos) {
    absl::StatusOr<Digest> digest = Digest::Parse(rest.substr(at + 1));
    if (!digest.ok()) return Invalid(text, digest.status().message());
    ref.digest_ = *digest;
    rest = rest.substr(0, at);
  }
  // A tag follows the last ":" that comes after the last "/" (a ":" before
  // it belongs to a registry port).
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != absl::string_view::npos &&
      (slash == absl::string_view::npos || colon > slash)) {
    ref.tag_ = std::string(rest.substr(colon + 1));
    if (!ValidTag(ref.tag_))
      return Invalid(text, absl::StrCat("invalid tag \"", ref.tag_, "\""));
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return Invalid(text, "no repository name");

  std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
  if (parts.size() > 1 && LooksLikeDomain(parts[0])) {
    if (!ValidDomain(parts[0])) {
      return Invalid(text,
                     absl::StrCat("invalid registry host \"", parts[0], "\""));
    }
    ref.domain_ = std::string(parts[0]);
    parts.erase(parts.begin());
  } else {
    ref.domain_ = kDockerHub;
  }
  if (ref.domain_ == "index.docker.io" ||
      ref.domain_ == "registry-1.docker.io") {
    ref.domain_ = kDockerHub;
  }
  for (absl::string_view part : parts) {
    if (!ValidComponent(part)) {
      return Invalid(
          text, absl::StrCat("invalid repository name component \"", part,
                             "\" (lowercase letters, digits and . _ - only)"));
    }
  }
  ref.path_ = absl::StrJoin(parts, "/");
  if (ref.domain_ == kDockerHub && parts.size() == 1)
    ref.path_ = "library/" + ref.path_;
  if (ref.Repository().size() > kMaxNameLength)
    return Invalid(text, "name too long");
  if (ref.tag_.empty() && !ref.digest_) ref.tag_ = "latest";
  return ref;
}

std::string ImageReference::String() const {
  std::string out = Repository();
  if (!tag_.empty()) absl::StrAppend(&out, ":", tag_);
  if (digest_) absl::StrAppend(&out, "@", digest_->ToString());
  return out;
}

}  // namespace cradle
