#include "registry/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace cradle {

absl::StatusOr<RegistryCredentials> DecodeAuth(absl::string_view auth) {
  std::string decoded;
  if (!absl::Base64Unescape(auth, &decoded)) {
    return absl::InvalidArgumentError(
        "auth config: \"auth\" is not valid base64");
  }
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        "auth config: \"auth\" must be base64 of \"username:password\"");
  }
  RegistryCredentials creds;
  creds.username = decoded.substr(0, colon);
  creds.password = decoded.substr(colon + 1);
  return creds;
}

namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~/:=").find(c) !=
             std::string_view::npos;
}

class ChallengeParser {
 public:
  explicit ChallengeParser(absl::string_view text) : s_(text) {}

  std::vector<AuthChallenge> Parse() {
    std::vector<AuthChallenge> out;
    while (true) {
      SkipSpaceAndCommas();
      if (pos_ >= s_.size()) break;
      std::string scheme = Token();
      if (scheme.empty()) break;
      AuthChallenge challenge{absl::AsciiStrToLower(scheme), {}};
      // Parameters: name=value pairs until the next scheme (a token not
      // followed by "=").
      while (true) {
        SkipSpaceAndCommas();
        size_t mark = pos_;
        std::string name = NameToken();
        SkipSpace();
        if (name.empty() || pos_ >= s_.size() || s_[pos_] != '=') {
          pos_ = mark;
          break;
        }
        ++pos_;
        SkipSpace();
        challenge.params[absl::AsciiStrToLower(name)] = Value();
      }
      out.push_back(std::move(challenge));
      if (pos_ < s_.size() && !IsTokenChar(s_[pos_]) && s_[pos_] != ',') break;
    }
    return out;
  }

 private:
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  void SkipSpaceAndCommas() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == ','))
      ++pos_;
  }
  // Every read below checks pos_ against the size first: the header comes
  // from the registry, so the parser must be total (no throw, no overrun).
  std::string Token() {
    size_t start = pos_;
    while (pos_ < s_.size() && IsTokenChar(s_[pos_]) && s_[pos_] != '=') ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  std::string NameToken() { return Token(); }
  std::string Value() {
    if (pos_ < s_.size() && s_[pos_] == '"') {
      ++pos_;
      std::string value;
      while (pos_ < s_.size() && s_[pos_] != '"') {
        if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
        value.push_back(s_[pos_++]);
      }
      // An unterminated quote ends at the end of the header: stepping past
      // it would put every later read out of range.
      if (pos_ < s_.size()) ++pos_;
      return value;
    }
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != ' ') ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }

  absl::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<AuthChallenge> ParseAuthChallenges(absl::string_view header) {
  return ChallengeParser(header).Parse();
}

}  // namespace cradle
