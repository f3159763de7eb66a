// Registry client against a scripted HTTP fake: auth flows, mirrors, digest
// checks. The real registry is exercised by the e2e pull tests.
#include "registry/registry_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <functional>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"

namespace cradle {
namespace {

using ::testing::HasSubstr;

class FakeHttp : public HttpClient {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Requests are answered by the first handler whose URL prefix matches.
  void On(std::string url_prefix, Handler handler) {
    routes_.push_back({std::move(url_prefix), std::move(handler)});
  }
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request,
                                  const BodySink& sink,
                                  int64_t max_body) override {
    requests.push_back(request);
    for (auto& [prefix, handler] : routes_) {
      if (!absl::StartsWith(request.url, prefix)) continue;
      HttpResponse response = handler(request);
      bool success = response.status >= 200 && response.status < 300;
      if (success && sink) {
        // Deliver in two chunks to exercise streaming.
        absl::string_view body = response.body;
        size_t half = body.size() / 2;
        if (absl::Status s = sink(response.status, body.substr(0, half));
            !s.ok())
          return s;
        if (absl::Status s = sink(response.status, body.substr(half)); !s.ok())
          return s;
        response.body.clear();
      } else if (static_cast<int64_t>(response.body.size()) > max_body &&
                 success) {
        return absl::OutOfRangeError("too big");
      }
      return response;
    }
    return absl::UnavailableError("connection refused: " + request.url);
  }
  std::vector<HttpRequest> requests;

 private:
  std::vector<std::pair<std::string, Handler>> routes_;
};

std::string HeaderOf(const HttpRequest& r, absl::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

HttpResponse Respond(int status, std::string body,
                     std::multimap<std::string, std::string> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

constexpr char kManifest[] =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";

ImageReference Ref(const std::string& text) {
  return *ImageReference::Parse(text);
}

TEST(RegistryHostsTest, MirrorsComeFirstAndDockerHubHasItsApiHost) {
  RegistryHostsOptions options;
  options.mirrors["docker.io"] = {"http://127.0.0.1:5000",
                                  "mirror.local:8443/some/path"};
  options.plain_http = {"plain.local"};
  options.insecure_skip_verify = {"mirror.local:8443"};
  RegistryHosts hosts(options);
  std::vector<RegistryEndpoint> eps = hosts.Endpoints("docker.io");
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_EQ(eps[0].base_url, "http://127.0.0.1:5000");
  EXPECT_TRUE(eps[0].mirror);
  EXPECT_EQ(eps[1].base_url, "https://mirror.local:8443");
  EXPECT_TRUE(eps[1].skip_tls_verify);
  EXPECT_EQ(eps[2].base_url, "https://registry-1.docker.io");
  EXPECT_FALSE(eps[2].mirror);
  EXPECT_EQ(hosts.Endpoints("plain.local")[0].base_url, "http://plain.local");
}

TEST(AuthTest, ParsesBearerAndBasicChallenges) {
  std::vector<AuthChallenge> c = ParseAuthChallenges(
      R"(Bearer realm="https://auth.example/token",service="registry.example",)"
      R"(scope="repository:library/busybox:pull", Basic realm="x")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params["realm"], "https://auth.example/token");
  EXPECT_EQ(c[0].params["service"], "registry.example");
  EXPECT_EQ(c[0].params["scope"], "repository:library/busybox:pull");
  EXPECT_EQ(c[1].scheme, "basic");
  EXPECT_EQ(c[1].params["realm"], "x");
}

TEST(AuthTest, DecodesCriAuthField) {
  absl::StatusOr<RegistryCredentials> creds =
      DecodeAuth(absl::Base64Escape("alice:s3:cr3t"));
  ASSERT_TRUE(creds.ok());
  EXPECT_EQ(creds->username, "alice");
  EXPECT_EQ(creds->password, "s3:cr3t");
  EXPECT_EQ(DecodeAuth("!!!").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeAuth(absl::Base64Escape("nocolon")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RegistryClientTest, AnonymousBearerTokenIsFetchedOnceAndReused) {
  FakeHttp http;
  int token_requests = 0;
  http.On("https://auth.example/token", [&](const HttpRequest& r) {
    ++token_requests;
    EXPECT_THAT(r.url,
                HasSubstr("scope=repository%3Alibrary%2Fbusybox%3Apull"));
    EXPECT_THAT(r.url, HasSubstr("service=reg"));
    return Respond(200, R"({"token":"tok123"})");
  });
  http.On(
      "https://registry-1.docker.io/v2/library/busybox/manifests/",
      [](const HttpRequest& r) {
        if (HeaderOf(r, "Authorization") != "Bearer tok123") {
          return Respond(
              401, "",
              {{"www-authenticate",
                R"(Bearer realm="https://auth.example/token",service="reg",)"
                R"(scope="repository:library/busybox:pull")"}});
        }
        return Respond(
            200, kManifest,
            {{"content-type", "application/vnd.oci.image.manifest.v1+json"}});
      });
  RegistryClient client(&http, RegistryHosts({}));
  absl::StatusOr<FetchedManifest> m =
      client.GetManifest(Ref("busybox"), "latest", {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->media_type, "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(m->digest, Digest::OfBytes(kManifest));
  EXPECT_EQ(m->bytes, kManifest);
  ASSERT_TRUE(client.GetManifest(Ref("busybox"), "latest", {}).ok());
  EXPECT_EQ(token_requests, 1);
}

TEST(RegistryClientTest, BasicAuthUsesCredentialsOrExplainsWhatIsMissing) {
  FakeHttp http;
  std::string expected = "Basic " + absl::Base64Escape("bob:pw");
  http.On("http://127.0.0.1:5000/v2/app/manifests/v1", [&](const HttpRequest&
                                                               r) {
    if (HeaderOf(r, "Authorization") != expected) {
      return Respond(
          401,
          R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
          {{"www-authenticate", R"(Basic realm="Registry Realm")"}});
    }
    return Respond(200, kManifest);
  });
  RegistryHostsOptions options;
  options.plain_http = {"127.0.0.1:5000"};
  RegistryClient client(&http, RegistryHosts(options));
  absl::Status anonymous =
      client.GetManifest(Ref("127.0.0.1:5000/app:v1"), "v1", {}).status();
  EXPECT_EQ(anonymous.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(anonymous.message(), HasSubstr("username and password"));

  RegistryCredentials wrong{"bob", "nope", "", ""};
  EXPECT_EQ(client.GetManifest(Ref("127.0.0.1:5000/app:v1"), "v1", wrong)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);

  RegistryCredentials right{"bob", "pw", "", ""};
  absl::StatusOr<FetchedManifest> m =
      client.GetManifest(Ref("127.0.0.1:5000/app:v1"), "v1", right);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->media_type, "application/vnd.oci.image.manifest.v1+json");
}

TEST(RegistryClientTest, MirrorMissFallsBackToUpstreamAndAllMissesAreNotFound) {
  FakeHttp http;
  http.On(
      "http://mirror/v2/library/busybox/manifests/latest",
      [](const HttpRequest&) {
        return Respond(
            404,
            R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})");
      });
  http.On("https://registry-1.docker.io/v2/library/busybox/manifests/latest",
          [](const HttpRequest&) { return Respond(200, kManifest); });
  http.On("https://registry-1.docker.io/v2/",
          [](const HttpRequest&) { return Respond(404, ""); });
  http.On("http://mirror/v2/", [](const HttpRequest&) {
    return Respond(
        404,
        R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})");
  });
  RegistryHostsOptions options;
  options.mirrors["docker.io"] = {"http://mirror"};
  RegistryClient client(&http, RegistryHosts(options));
  ASSERT_TRUE(client.GetManifest(Ref("busybox"), "latest", {}).ok());
  absl::Status missing =
      client.GetManifest(Ref("busybox:nope"), "nope", {}).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("docker.io/library/busybox:nope"));
  EXPECT_THAT(missing.message(), HasSubstr("MANIFEST_UNKNOWN"));
}

TEST(RegistryClientTest, ManifestDigestMismatchIsDataLoss) {
  FakeHttp http;
  std::string other = Digest::OfBytes("something else").ToString();
  http.On("https://r.example/v2/app/manifests/" + other,
          [](const HttpRequest&) { return Respond(200, kManifest); });
  http.On("https://r.example/v2/app/manifests/v1", [&](const HttpRequest&) {
    return Respond(200, kManifest, {{"docker-content-digest", other}});
  });
  RegistryClient client(&http, RegistryHosts({}));
  absl::Status by_digest =
      client.GetManifest(Ref("r.example/app"), other, {}).status();
  EXPECT_EQ(by_digest.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(by_digest.message(), HasSubstr(other));
  EXPECT_EQ(client.GetManifest(Ref("r.example/app"), "v1", {}).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(RegistryClientTest, OversizedManifestIsRefused) {
  FakeHttp http;
  http.On("https://r.example/v2/app/manifests/big", [](const HttpRequest&) {
    return Respond(200, std::string(kMaxManifestSize + 1, ' '));
  });
  RegistryClient client(&http, RegistryHosts({}));
  absl::Status s = client.GetManifest(Ref("r.example/app"), "big", {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("4 MiB"));
}

TEST(RegistryClientTest, BlobResumeSkipsPrefixWhenRangeIsIgnored) {
  FakeHttp http;
  const std::string blob = "0123456789abcdef";
  Digest digest = Digest::OfBytes(blob);
  bool honour_range = false;
  http.On("https://r.example/v2/app/blobs/" + digest.ToString(),
          [&](const HttpRequest& r) {
            if (honour_range && r.range_start > 0)
              return Respond(206, blob.substr(r.range_start));
            return Respond(200, blob);
          });
  RegistryClient client(&http, RegistryHosts({}));
  for (bool honour : {false, true}) {
    honour_range = honour;
    std::string got;
    absl::Status s = client.FetchBlob(Ref("r.example/app"), digest, 5, {},
                                      [&](int, absl::string_view chunk) {
                                        got.append(chunk.data(), chunk.size());
                                        return absl::OkStatus();
                                      });
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(got, blob.substr(5)) << "range honoured: " << honour;
  }
  EXPECT_EQ(http.requests.back().range_start, 5);
}

TEST(RegistryClientTest, UnreachableRegistryIsUnavailable) {
  FakeHttp http;
  RegistryClient client(&http, RegistryHosts({}));
  EXPECT_EQ(
      client.GetManifest(Ref("down.example/app"), "v1", {}).status().code(),
      absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace cradle
