#include "registry/registry_client.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"

namespace cradle {
namespace {

constexpr char kManifestAccept[] =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";
constexpr int64_t kMaxErrorBody = 64 << 10;
constexpr int64_t kMaxTokenBody = 1 << 20;

std::string UrlEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// The registry's error document, shortened for a message.
std::string ErrorSummary(const HttpResponse& response) {
  try {
    nlohmann::json doc = nlohmann::json::parse(response.body);
    std::vector<std::string> parts;
    for (const auto& e : doc.at("errors")) {
      parts.push_back(
          absl::StrCat(e.value("code", ""), ": ", e.value("message", "")));
    }
    if (!parts.empty()) return absl::StrJoin(parts, "; ");
  } catch (const nlohmann::json::exception&) {
  }
  return absl::StrCat("HTTP ", response.status);
}

std::string MediaTypeOf(const HttpResponse& response, const std::string& body) {
  std::string type = response.Header("content-type");
  type = type.substr(0, type.find(';'));
  if (!type.empty() && type != "application/json" &&
      type != "application/octet-stream" && type != "text/plain") {
    return type;
  }
  try {
    return nlohmann::json::parse(body).value("mediaType", "");
  } catch (const nlohmann::json::exception&) {
    return "";
  }
}

// Names the credentials in a cache key without keeping the secret: the
// sha256 of every field, each length-prefixed so fields cannot run together.
std::string CredentialsKey(const RegistryCredentials& creds) {
  if (creds.empty()) return "anonymous";
  std::string text;
  for (const std::string* f : {&creds.username, &creds.password,
                               &creds.identity_token, &creds.registry_token}) {
    absl::StrAppend(&text, f->size(), ":", *f, ";");
  }
  return Digest::OfBytes(text).ToString();
}

// The same request over plain http.
HttpRequest OverPlainHttp(HttpRequest request) {
  absl::string_view rest = request.url;
  if (absl::ConsumePrefix(&rest, "https://"))
    request.url = absl::StrCat("http://", rest);
  return request;
}

// Whether `host` ("name:port", "[v6]:port") names its port.
bool HasPort(absl::string_view host) {
  size_t colon = host.rfind(':');
  size_t bracket = host.rfind(']');
  if (colon == absl::string_view::npos) return false;
  if (bracket != absl::string_view::npos) return colon > bracket;
  return host.find(':') == colon;  // several ':' without [ ]: a bare IPv6
}

}  // namespace

absl::StatusOr<HttpResponse> RegistryClient::Do(
    const RegistryEndpoint& endpoint, const HttpRequest& request,
    const BodySink& sink, int64_t max_body) {
  if (!endpoint.http_fallback) return http_->Do(request, sink, max_body);
  bool remembered;
  {
    absl::MutexLock lock(&mu_);
    remembered = plain_http_hosts_.count(endpoint.host) > 0;
  }
  if (remembered) {
    absl::StatusOr<HttpResponse> plain =
        http_->Do(OverPlainHttp(request), sink, max_body);
    // Both signs come before any body byte reaches `sink`: asking again
    // over https cannot hand it anything twice.
    bool maybe_tls_now = plain.ok() ? plain->status == 400
                                    : TransportFailureOf(plain.status()) !=
                                          TransportFailure::kOther;
    if (!maybe_tls_now) return plain;
    absl::MutexLock lock(&mu_);
    plain_http_hosts_.erase(endpoint.host);
    LOG(INFO) << "registry=" << endpoint.host
              << " no longer answers plain http as before; trying https again";
  }
  absl::StatusOr<HttpResponse> secure = http_->Do(request, sink, max_body);
  if (secure.ok()) return secure;
  // Only where https never got a server to speak TLS: a TLS handshake that
  // failed, or (no port given) nothing on 443 while http would use 80. An
  // HTTP status, a certificate that does not verify or a failure mid-body
  // is the registry's answer and is returned as it is.
  TransportFailure failure = TransportFailureOf(secure.status());
  if (failure != TransportFailure::kTlsHandshake &&
      !(failure == TransportFailure::kConnect && !HasPort(endpoint.host))) {
    return secure;
  }
  absl::StatusOr<HttpResponse> plain =
      http_->Do(OverPlainHttp(request), sink, max_body);
  // 400 is a TLS server's answer to plain http: https failed for another
  // reason, which is the error to report, and http is not this host's.
  if (plain.ok() && plain->status == 400) return secure;
  if (!plain.ok()) {
    // Both transports failed: say what each did. Anything else (a sink's
    // error) is returned as it is.
    if (plain.status().code() != absl::StatusCode::kUnavailable) return plain;
    return absl::UnavailableError(
        absl::StrCat(secure.status().message(),
                     "; then over plain http: ", plain.status().message()));
  }
  absl::MutexLock lock(&mu_);
  if (plain_http_hosts_.insert(endpoint.host).second) {
    LOG(INFO) << "registry=" << endpoint.host
              << " is local and does not speak TLS ("
              << secure.status().message()
              << "): using plain http for it from now on";
  }
  return plain;
}

absl::StatusOr<std::string> RegistryClient::Authorize(
    const RegistryEndpoint& endpoint, const ImageReference& ref,
    const std::string& www_authenticate, const RegistryCredentials& creds) {
  std::vector<AuthChallenge> challenges = ParseAuthChallenges(www_authenticate);
  for (const AuthChallenge& c : challenges) {
    if (c.scheme == "basic") {
      if (creds.username.empty() && creds.password.empty()) {
        return absl::PermissionDeniedError(
            absl::StrCat(endpoint.host,
                         " wants a username and password and none were given"));
      }
      return absl::StrCat(
          "Basic ", absl::Base64Escape(creds.username + ":" + creds.password));
    }
    if (c.scheme != "bearer") continue;
    if (!creds.registry_token.empty())
      return absl::StrCat("Bearer ", creds.registry_token);
    auto realm = c.params.find("realm");
    if (realm == c.params.end()) {
      return absl::PermissionDeniedError(absl::StrCat(
          endpoint.host, " sent a bearer challenge without a realm"));
    }
    std::string service =
        c.params.count("service") ? c.params.at("service") : "";
    std::string scope = c.params.count("scope")
                            ? c.params.at("scope")
                            : absl::StrCat("repository:", ref.path(), ":pull");
    HttpRequest token_request;
    token_request.skip_tls_verify = endpoint.skip_tls_verify;
    token_request.timeout = absl::Seconds(60);
    if (!creds.identity_token.empty()) {
      // OAuth2 refresh-token grant, as docker's identity tokens are used.
      token_request.method = "POST";
      token_request.url = realm->second;
      token_request.headers.push_back(
          {"Content-Type", "application/x-www-form-urlencoded"});
      token_request.body =
          absl::StrCat("grant_type=refresh_token&client_id=cradle&service=",
                       UrlEncode(service), "&scope=", UrlEncode(scope),
                       "&refresh_token=", UrlEncode(creds.identity_token));
    } else {
      token_request.url = absl::StrCat(
          realm->second,
          realm->second.find('?') == std::string::npos ? "?" : "&",
          "service=", UrlEncode(service), "&scope=", UrlEncode(scope));
      if (!creds.username.empty()) {
        token_request.headers.push_back(
            {"Authorization",
             absl::StrCat("Basic ", absl::Base64Escape(creds.username + ":" +
                                                       creds.password))});
      }
    }
    absl::StatusOr<HttpResponse> response =
        http_->Do(token_request, nullptr, kMaxTokenBody);
    if (!response.ok()) return response.status();
    if (response->status == 401 || response->status == 403) {
      return absl::PermissionDeniedError(absl::StrCat(
          "token service ", realm->second, " refused the credentials for ",
          ref.Repository(), ": ", ErrorSummary(*response)));
    }
    if (response->status != 200) {
      return absl::UnavailableError(absl::StrCat(
          "token service ", realm->second, ": ", ErrorSummary(*response)));
    }
    try {
      nlohmann::json doc = nlohmann::json::parse(response->body);
      std::string token = doc.value("token", "");
      if (token.empty()) token = doc.value("access_token", "");
      if (token.empty()) {
        return absl::UnavailableError(absl::StrCat(
            "token service ", realm->second, " answered without a token"));
      }
      return absl::StrCat("Bearer ", token);
    } catch (const nlohmann::json::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("token service ", realm->second,
                       " answered malformed JSON: ", e.what()));
    }
  }
  return absl::PermissionDeniedError(absl::StrCat(
      endpoint.host,
      " asks for an unsupported authentication scheme: ", www_authenticate));
}

absl::StatusOr<HttpResponse> RegistryClient::Send(
    const RegistryEndpoint& endpoint, const ImageReference& ref,
    HttpRequest request, const RegistryCredentials& creds, const BodySink& sink,
    int64_t max_body) {
  static const RegistryCredentials kAnonymous;
  const RegistryCredentials& given =
      endpoint.send_credentials ? creds : kAnonymous;
  std::string cache_key =
      absl::StrCat(endpoint.host, " ", ref.path(), " ", CredentialsKey(given));
  request.skip_tls_verify = endpoint.skip_tls_verify;
  std::string authorization;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = auth_cache_.find(cache_key); it != auth_cache_.end())
      authorization = it->second;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    HttpRequest r = request;
    if (!authorization.empty())
      r.headers.push_back({"Authorization", authorization});
    absl::StatusOr<HttpResponse> response = Do(endpoint, r, sink, max_body);
    if (!response.ok() || response->status != 401 || attempt == 1)
      return response;
    absl::StatusOr<std::string> fresh =
        Authorize(endpoint, ref, response->Header("www-authenticate"), given);
    if (!fresh.ok()) return fresh.status();
    authorization = *fresh;
    absl::MutexLock lock(&mu_);
    auth_cache_[cache_key] = authorization;
  }
  return absl::InternalError("unreachable");
}

absl::StatusOr<FetchedManifest> RegistryClient::GetManifest(
    const ImageReference& ref, absl::string_view object,
    const RegistryCredentials& creds) {
  absl::Status last = absl::NotFoundError("no registry endpoint");
  bool all_not_found = true;
  std::vector<std::string> misses;  // "endpoint: reason" for each 404
  for (const RegistryEndpoint& endpoint : hosts_.Endpoints(ref.domain())) {
    HttpRequest request;
    request.url = absl::StrCat(endpoint.base_url, "/v2/", ref.path(),
                               "/manifests/", object);
    request.headers.push_back({"Accept", kManifestAccept});
    request.timeout = absl::Minutes(2);
    absl::StatusOr<HttpResponse> response =
        Send(endpoint, ref, request, creds, nullptr, kMaxManifestSize);
    if (!response.ok()) {
      if (response.status().code() == absl::StatusCode::kOutOfRange) {
        return absl::InvalidArgumentError(
            absl::StrCat("manifest ", object, " of ", ref.Repository(), " at ",
                         endpoint.host, " is larger than 4 MiB"));
      }
      all_not_found = false;
      last = response.status();
      LOG(WARNING) << "image=" << ref.String()
                   << " endpoint=" << endpoint.base_url << ": "
                   << last.message();
      continue;
    }
    if (response->status == 404) {
      misses.push_back(
          absl::StrCat(endpoint.base_url, ": ", ErrorSummary(*response)));
      continue;
    }
    all_not_found = false;
    if (response->status == 401 || response->status == 403) {
      last = absl::PermissionDeniedError(
          absl::StrCat("pull access to ", ref.Repository(), " denied by ",
                       endpoint.host, ": ", ErrorSummary(*response)));
      continue;
    }
    if (response->status != 200) {
      last = absl::UnavailableError(
          absl::StrCat("GET ", request.url, ": ", ErrorSummary(*response)));
      continue;
    }
    FetchedManifest manifest{MediaTypeOf(*response, response->body),
                             Digest::OfBytes(response->body),
                             std::move(response->body)};
    std::string announced = response->Header("docker-content-digest");
    absl::StatusOr<Digest> wanted = Digest::Parse(object);
    if (wanted.ok() && *wanted != manifest.digest) {
      return absl::DataLossError(
          absl::StrCat("manifest from ", endpoint.host, " has digest ",
                       manifest.digest.ToString(), ", asked for ", object));
    }
    if (!announced.empty() && announced != manifest.digest.ToString()) {
      return absl::DataLossError(
          absl::StrCat("manifest from ", endpoint.host, " has digest ",
                       manifest.digest.ToString(),
                       " but the registry announced ", announced));
    }
    return manifest;
  }
  if (all_not_found) {
    return absl::NotFoundError(absl::StrCat(
        "image ", ref.Repository(), Digest::Parse(object).ok() ? "@" : ":",
        object, " not found (", absl::StrJoin(misses, "; "), ")"));
  }
  return last;
}

absl::Status RegistryClient::FetchBlob(
    const ImageReference& ref, const Digest& digest, int64_t offset,
    const RegistryCredentials& creds, const BodySink& sink,
    std::function<absl::Status(int64_t)> keep_going) {
  absl::Status last = absl::NotFoundError("no registry endpoint");
  for (const RegistryEndpoint& endpoint : hosts_.Endpoints(ref.domain())) {
    HttpRequest request;
    request.url = absl::StrCat(endpoint.base_url, "/v2/", ref.path(), "/blobs/",
                               digest.ToString());
    request.range_start = offset;
    if (keep_going) {
      request.keep_going = keep_going;
      request.timeout = absl::InfiniteDuration();
    }
    // A registry may ignore Range and answer 200 with the whole blob: then
    // the bytes the caller already has are skipped here.
    int64_t skipped = 0;
    bool delivered = false;
    BodySink resuming_sink = [&](int status,
                                 absl::string_view chunk) -> absl::Status {
      if (status == 200 && offset > 0 && skipped < offset) {
        int64_t n = std::min<int64_t>(offset - skipped, chunk.size());
        chunk.remove_prefix(n);
        skipped += n;
        if (chunk.empty()) return absl::OkStatus();
      }
      delivered = true;
      return sink(status, chunk);
    };
    absl::StatusOr<HttpResponse> response =
        Send(endpoint, ref, request, creds, resuming_sink, kMaxErrorBody);
    if (!response.ok()) {
      last = response.status();
      // Once the sink has taken bytes (or refused them), another endpoint
      // would send them again from `offset`: stop, and let a later fetch
      // resume from what was stored.
      if (delivered) return last;
      // A mirror asked anonymously may want credentials it is not given,
      // or lack the repository: the next endpoint may still serve it.
      switch (last.code()) {
        case absl::StatusCode::kUnavailable:
        case absl::StatusCode::kPermissionDenied:
        case absl::StatusCode::kUnauthenticated:
        case absl::StatusCode::kNotFound:
          continue;
        default:
          return last;
      }
    }
    if (response->status == 200 || response->status == 206)
      return absl::OkStatus();
    if (response->status == 404) {
      last = absl::NotFoundError(
          absl::StrCat("blob ", digest.ToString(), " of ", ref.Repository(),
                       " not found at ", endpoint.base_url));
      continue;
    }
    if (response->status == 401 || response->status == 403) {
      last = absl::PermissionDeniedError(
          absl::StrCat("blob access to ", ref.Repository(), " denied by ",
                       endpoint.host, ": ", ErrorSummary(*response)));
      continue;
    }
    if (response->status == 416) {
      return absl::OutOfRangeError(
          absl::StrCat("registry ", endpoint.host, " cannot resume blob ",
                       digest.ToString(), " at offset ", offset));
    }
    last = absl::UnavailableError(
        absl::StrCat("GET ", request.url, ": ", ErrorSummary(*response)));
  }
  return last;
}

}  // namespace cradle
