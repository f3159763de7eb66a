// A small HTTP client interface, so the registry client can be tested with a
// scripted fake and runs over libcurl for real.
#ifndef CRADLE_REGISTRY_HTTP_CLIENT_H_
#define CRADLE_REGISTRY_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cradle {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  // Form-encoded body for POST (token endpoints).
  std::string body;
  bool skip_tls_verify = false;
  // Resume a download: ask for bytes from this offset on (Range header).
  int64_t range_start = 0;
  // The whole request's limit; InfiniteDuration: none (a blob's download
  // is then bounded by `keep_going`).
  absl::Duration timeout = absl::Minutes(10);
  // When set, asked about once a second while the request runs, also while
  // no byte arrives, with the body bytes received so far (also those a
  // caller skips); an error stops the request and is what Do() returns.
  std::function<absl::Status(int64_t received)> keep_going;
};

struct HttpResponse {
  int status = 0;
  // Header names are lowercased; a repeated header keeps every value.
  std::multimap<std::string, std::string> headers;
  // The body, when no sink took it (error bodies, manifests, tokens).
  std::string body;

  std::string Header(absl::string_view name) const;
};

// Receives a successful (2xx) response body as it arrives, with the status
// (a ranged request answered 200 carries the whole body, 206 the rest). An
// error stops the transfer and is returned from Do().
using BodySink =
    std::function<absl::Status(int status, absl::string_view chunk)>;

// Thread-safe: one client serves concurrent requests.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Performs one request, following redirects. Transport failures are
  // Unavailable; any HTTP status is a response. With `sink`, a 2xx body goes
  // to it; other bodies are kept in the response, cut at `max_body` bytes
  // (a larger 2xx body without a sink is an error: OutOfRange).
  virtual absl::StatusOr<HttpResponse> Do(const HttpRequest& request,
                                          const BodySink& sink,
                                          int64_t max_body) = 0;
};

// What a transport failure (Unavailable from Do()) was, when the client
// knows: both happen before any response byte, so a request that failed so
// may be sent again elsewhere without a sink seeing anything twice.
enum class TransportFailure {
  kOther,
  kConnect,       // no connection: refused, unreachable, no such host
  // Connected, but what came back was not TLS (a plain http server). Other
  // handshake failures (a client certificate asked for, no common cipher)
  // are a TLS server's answer and stay kOther.
  kTlsHandshake,
};
// Tags `status` (a payload, kept through annotations that copy it).
absl::Status WithTransportFailure(absl::Status status, TransportFailure kind);
TransportFailure TransportFailureOf(const absl::Status& status);

// The libcurl implementation.
std::unique_ptr<HttpClient> NewCurlHttpClient();

}  // namespace cradle

#endif  // CRADLE_REGISTRY_HTTP_CLIENT_H_
