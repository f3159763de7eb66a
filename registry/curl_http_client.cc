#include <curl/curl.h>

#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "registry/http_client.h"

namespace cradle {

std::string HttpResponse::Header(absl::string_view name) const {
  auto it = headers.find(absl::AsciiStrToLower(name));
  return it == headers.end() ? std::string() : it->second;
}

namespace {

constexpr char kTransportFailureUrl[] = "cradle.registry/transport-failure";

}  // namespace

absl::Status WithTransportFailure(absl::Status status, TransportFailure kind) {
  if (kind == TransportFailure::kConnect) {
    status.SetPayload(kTransportFailureUrl, absl::Cord("connect"));
  } else if (kind == TransportFailure::kTlsHandshake) {
    status.SetPayload(kTransportFailureUrl, absl::Cord("tls-handshake"));
  }
  return status;
}

TransportFailure TransportFailureOf(const absl::Status& status) {
  auto kind = status.GetPayload(kTransportFailureUrl);
  if (!kind.has_value()) return TransportFailure::kOther;
  if (*kind == "connect") return TransportFailure::kConnect;
  if (*kind == "tls-handshake") return TransportFailure::kTlsHandshake;
  return TransportFailure::kOther;
}

namespace {

struct Transfer {
  const HttpRequest* request;
  const BodySink* sink;
  int64_t max_body;
  HttpResponse response;
  absl::Status sink_status;
  int status_seen = 0;  // of the response whose headers came last
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  absl::string_view line(data, size * n);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (after a redirect or 100-continue): forget the last one.
    t->response.headers.clear();
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ');
    int status = 0;
    if (words.size() >= 2 && absl::SimpleAtoi(words[1], &status))
      t->status_seen = status;
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    t->response.headers.emplace(
        absl::AsciiStrToLower(
            absl::StripAsciiWhitespace(line.substr(0, colon))),
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  absl::string_view chunk(data, size * n);
  bool success = t->status_seen >= 200 && t->status_seen < 300;
  if (success && *t->sink) {
    t->sink_status = (*t->sink)(t->status_seen, chunk);
    return t->sink_status.ok() ? chunk.size() : 0;
  }
  if (static_cast<int64_t>(t->response.body.size() + chunk.size()) >
      t->max_body) {
    if (success) {
      t->sink_status = absl::OutOfRangeError(
          absl::StrCat("response body is larger than ", t->max_body, " bytes"));
      return 0;
    }
    // An oversized error body is only kept in part.
    absl::string_view kept =
        chunk.substr(0, t->max_body - t->response.body.size());
    t->response.body.append(kept.data(), kept.size());
    return chunk.size();
  }
  t->response.body.append(chunk.data(), chunk.size());
  return chunk.size();
}

int OnProgress(void* user, curl_off_t, curl_off_t received, curl_off_t,
               curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->sink_status.ok()) t->sink_status = t->request->keep_going(received);
  return t->sink_status.ok() ? 0 : 1;
}

class CurlHttpClient : public HttpClient {
 public:
  CurlHttpClient() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  absl::StatusOr<HttpResponse> Do(const HttpRequest& request,
                                  const BodySink& sink,
                                  int64_t max_body) override {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
    Transfer t{&request, &sink, max_body, {}, absl::OkStatus(), 0};
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers) {
      headers =
          curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
    }
    std::string range = absl::StrCat(request.range_start, "-");
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (request.timeout != absl::InfiniteDuration()) {
      curl_easy_setopt(
          curl, CURLOPT_TIMEOUT_MS,
          static_cast<long>(absl::ToInt64Milliseconds(request.timeout)));
    }
    // A peer that vanished without a word (a dropped NAT entry) is found by
    // keepalive probes, also where no overall timeout bounds a download.
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 60L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 30L);
    if (request.keep_going) {
      curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
      curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
      curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    char error_detail[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_detail);
    if (request.skip_tls_verify) {
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (request.range_start > 0)
      curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
    if (request.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (request.method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
                       static_cast<long>(request.body.size()));
    }
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    long redirects = 0;
    curl_easy_getinfo(curl, CURLINFO_REDIRECT_COUNT, &redirects);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (!t.sink_status.ok()) return t.sink_status;
    if (rc != CURLE_OK) {
      absl::Status failed = absl::UnavailableError(absl::StrCat(
          request.method, " ", request.url, ": ", curl_easy_strerror(rc),
          error_detail[0] != '\0' ? absl::StrCat(" (", error_detail, ")")
                                  : ""));
      // Only a failure at the URL asked for is classified; one at a
      // redirect's target says nothing about that URL's server.
      if (redirects > 0) return failed;
      switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
          return WithTransportFailure(failed, TransportFailure::kConnect);
        case CURLE_SSL_CONNECT_ERROR:
          // OpenSSL's words for a reply that is no TLS record at all.
          if (absl::StrContains(error_detail, "wrong version number") ||
              absl::StrContains(error_detail, "packet length too long")) {
            return WithTransportFailure(failed,
                                        TransportFailure::kTlsHandshake);
          }
          return failed;
        default:
          return failed;
      }
    }
    t.response.status = static_cast<int>(status);
    return std::move(t.response);
  }
};

}  // namespace

std::unique_ptr<HttpClient> NewCurlHttpClient() {
  return std::make_unique<CurlHttpClient>();
}

}  // namespace cradle
