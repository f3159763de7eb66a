// Where a registry host is reached: its mirrors first, then itself.
#ifndef CRADLE_REGISTRY_HOSTS_H_
#define CRADLE_REGISTRY_HOSTS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace cradle {

struct RegistryHostsOptions {
  std::vector<std::string> plain_http;  // hosts spoken to over http://
  std::vector<std::string>
      insecure_skip_verify;  // hosts whose TLS is not verified
  // Registry host -> mirror endpoints ("http://127.0.0.1:5000", "mirror:443").
  std::map<std::string, std::vector<std::string>> mirrors;
  // Registry hosts whose pull credentials are also sent to their mirrors.
  // Others' mirrors are asked anonymously: a mirror is another party.
  std::vector<std::string> mirror_credentials;
};

struct RegistryEndpoint {
  std::string base_url;  // "https://registry-1.docker.io", no trailing slash
  std::string host;      // "registry-1.docker.io"
  bool skip_tls_verify = false;
  bool mirror = false;
  // Whether the pull's credentials may be sent here: always to the registry
  // itself, to a mirror only when the config opts in.
  bool send_credentials = true;
  // https first, then plain http if TLS cannot be spoken there: a local
  // registry (IsLocalHost) whose scheme the config leaves open.
  bool http_fallback = false;
};

// Whether `host` ("name", "name:port", "[v6]", "[v6]:port") is this machine's
// loopback: "localhost", 127.0.0.0/8 or ::1 (also as ::ffff:127.x.y.z).
bool IsLocalHost(absl::string_view host);

// Immutable after construction; thread-safe.
class RegistryHosts {
 public:
  explicit RegistryHosts(RegistryHostsOptions options)
      : options_(std::move(options)) {}
  // Endpoints for the registry `domain` of an image reference, in the order
  // they are tried.
  std::vector<RegistryEndpoint> Endpoints(absl::string_view domain) const;

 private:
  RegistryEndpoint Endpoint(absl::string_view spec, bool mirror) const;
  RegistryHostsOptions options_;
};

}  // namespace cradle

#endif  // CRADLE_REGISTRY_HOSTS_H_
