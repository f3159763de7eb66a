// Registry authentication: WWW-Authenticate challenges and the credentials a
// CRI PullImage request carries.
#ifndef CRADLE_REGISTRY_AUTH_H_
#define CRADLE_REGISTRY_AUTH_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle {

// What the CRI AuthConfig gives (its base64 `auth` already split into
// username and password by DecodeAuth).
struct RegistryCredentials {
  std::string username;
  std::string password;
  std::string identity_token;  // an OAuth2 refresh token
  std::string registry_token;  // a bearer token used as is
  bool empty() const {
    return username.empty() && password.empty() && identity_token.empty() &&
           registry_token.empty();
  }
};

// Decodes the CRI `auth` field: base64 of "username:password".
absl::StatusOr<RegistryCredentials> DecodeAuth(absl::string_view auth);

struct AuthChallenge {
  std::string scheme;                         // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;  // realm, service, scope, ...
};

// Parses a WWW-Authenticate header value (RFC 7235 challenges with quoted or
// token parameters). Total: any input, however malformed, yields the
// challenges read before the fault (possibly none); it never throws.
std::vector<AuthChallenge> ParseAuthChallenges(absl::string_view header);

}  // namespace cradle

#endif  // CRADLE_REGISTRY_AUTH_H_
