// An OCI distribution (v2 API) client: manifests and blobs, over a registry's
// mirrors, with anonymous, basic and bearer-token authentication.
#ifndef CRADLE_REGISTRY_REGISTRY_CLIENT_H_
#define CRADLE_REGISTRY_REGISTRY_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "digest/digest.h"
#include "reference/reference.h"
#include "registry/auth.h"
#include "registry/hosts.h"
#include "registry/http_client.h"

namespace cradle {

// Manifests and indexes larger than this are refused (as containerd does).
inline constexpr int64_t kMaxManifestSize = 4 << 20;

struct FetchedManifest {
  std::string media_type;  // from Content-Type, else the document's mediaType
  Digest digest;           // sha256 of `bytes`, checked against what was asked
  std::string bytes;
};

// Thread-safe. Authorization is cached per endpoint, repository and
// credentials (by digest), so a pull never uses a token it was not given
// credentials for. A mirror gets the credentials only when RegistryHosts
// says so (RegistryEndpoint::send_credentials); otherwise it is asked
// anonymously.
class RegistryClient {
 public:
  // `http` is not owned and must outlive the client.
  RegistryClient(HttpClient* http, RegistryHosts hosts)
      : http_(http), hosts_(std::move(hosts)) {}

  // Fetches the manifest or index that `object` (a tag or "sha256:...")
  // names in `ref`'s repository. NotFound when no endpoint has it;
  // DataLoss when the bytes do not match the digest asked for or announced;
  // PermissionDenied when the registry refuses the credentials.
  absl::StatusOr<FetchedManifest> GetManifest(const ImageReference& ref,
                                              absl::string_view object,
                                              const RegistryCredentials& creds);

  // Streams the blob `digest` of `ref`'s repository from `offset` into
  // `sink`, which sees only bytes from `offset` on (a registry that ignores
  // Range is handled here). The caller verifies the digest of what it
  // stored. OutOfRange when the registry cannot resume at `offset`.
  // With `keep_going` (see HttpRequest) the download has no time limit of
  // its own: the caller decides, about once a second, whether it goes on.
  absl::Status FetchBlob(
      const ImageReference& ref, const Digest& digest, int64_t offset,
      const RegistryCredentials& creds, const BodySink& sink,
      std::function<absl::Status(int64_t)> keep_going = nullptr);

 private:
  // Sends `request` to one endpoint, answering one auth challenge.
  absl::StatusOr<HttpResponse> Send(const RegistryEndpoint& endpoint,
                                    const ImageReference& ref,
                                    HttpRequest request,
                                    const RegistryCredentials& creds,
                                    const BodySink& sink, int64_t max_body);
  // One request to `endpoint`. Where it falls back to http (a local
  // registry whose TLS handshake fails, or whose port is not given and
  // that refuses https's), the request goes over http, and so does every
  // later request to that host: remembered for the client's lifetime, and
  // forgotten when such a request cannot connect or the server answers 400
  // (what a TLS server says to plain http), so a registry that took up TLS
  // is asked over https again.
  absl::StatusOr<HttpResponse> Do(const RegistryEndpoint& endpoint,
                                  const HttpRequest& request,
                                  const BodySink& sink, int64_t max_body);
  absl::StatusOr<std::string> Authorize(const RegistryEndpoint& endpoint,
                                        const ImageReference& ref,
                                        const std::string& www_authenticate,
                                        const RegistryCredentials& creds);

  HttpClient* http_;
  RegistryHosts hosts_;
  absl::Mutex mu_;
  // "<host> <repository> <credentials digest>" -> Authorization value.
  std::map<std::string, std::string> auth_cache_ ABSL_GUARDED_BY(mu_);
  // Hosts found to speak only plain http (RegistryEndpoint::http_fallback).
  std::set<std::string> plain_http_hosts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cradle

#endif  // CRADLE_REGISTRY_REGISTRY_CLIENT_H_
