#include "registry/hosts.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lite/net.h"

namespace cradle {
namespace {

bool Contains(const std::vector<std::string>& list, absl::string_view host) {
  return std::find(list.begin(), list.end(), host) != list.end();
}

}  // namespace

bool IsLocalHost(absl::string_view host) {
  absl::string_view name = host;
  if (absl::ConsumePrefix(&name, "[")) {
    name = name.substr(0, name.find(']'));
  } else if (name.find(':') == name.rfind(':')) {
    name = name.substr(0, name.find(':'));  // a port; several ':' are IPv6
  }
  return lite::IsLoopbackHost(std::string_view(name.data(), name.size()));
}

RegistryEndpoint RegistryHosts::Endpoint(absl::string_view spec,
                                         bool mirror) const {
  RegistryEndpoint endpoint;
  endpoint.mirror = mirror;
  absl::string_view rest = spec;
  std::string scheme;
  if (absl::ConsumePrefix(&rest, "http://")) {
    scheme = "http";
  } else if (absl::ConsumePrefix(&rest, "https://")) {
    scheme = "https";
  }
  // Only the host part names the endpoint; the API path is always /v2/.
  rest = rest.substr(0, rest.find('/'));
  endpoint.host = std::string(rest);
  if (scheme.empty()) {
    if (Contains(options_.plain_http, endpoint.host)) {
      scheme = "http";
    } else {
      scheme = "https";
      // As containerd does: a registry on this machine is often a plain
      // http one nobody listed; loopback traffic gains little from TLS.
      endpoint.http_fallback = IsLocalHost(endpoint.host);
    }
  }
  endpoint.base_url = absl::StrCat(scheme, "://", endpoint.host);
  endpoint.skip_tls_verify =
      Contains(options_.insecure_skip_verify, endpoint.host);
  return endpoint;
}

std::vector<RegistryEndpoint> RegistryHosts::Endpoints(
    absl::string_view domain) const {
  std::vector<RegistryEndpoint> endpoints;
  if (auto it = options_.mirrors.find(std::string(domain));
      it != options_.mirrors.end()) {
    bool trusted = Contains(options_.mirror_credentials, domain);
    for (const std::string& mirror : it->second) {
      endpoints.push_back(Endpoint(mirror, true));
      endpoints.back().send_credentials = trusted;
    }
  }
  // Docker Hub's name and its API host differ.
  endpoints.push_back(
      Endpoint(domain == "docker.io" ? "registry-1.docker.io" : domain, false));
  return endpoints;
}

}  // namespace cradle
