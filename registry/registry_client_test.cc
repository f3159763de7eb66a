// Registry client against a scripted HTTP fake: auth flows, mirrors, digest
// checks. The real registry is exercised by the e2e pull tests.
#include "registry/registry_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <functional>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "registry/testing/fake_http.h"

namespace cradle {
namespace {

using ::testing::HasSubstr;

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
  // Credentials go to the registry itself, to mirrors only when opted in.
  EXPECT_FALSE(eps[0].send_credentials);
  EXPECT_TRUE(eps[2].send_credentials);
  options.mirror_credentials = {"docker.io"};
  EXPECT_TRUE(
      RegistryHosts(options).Endpoints("docker.io")[0].send_credentials);
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

// Before: `Bearer realm="x` (no closing quote) stepped past the end and
// threw std::out_of_range on the pull's thread, taking cradled down.
TEST(AuthTest, MalformedChallengesAreParsedWithoutReadingPastTheEnd) {
  std::vector<AuthChallenge> c = ParseAuthChallenges(R"(Bearer realm="x)");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params["realm"], "x");

  c = ParseAuthChallenges(R"(Bearer service="reg",realm="a\)");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].params["service"], "reg");

  for (const char* header :
       {"", "\"", "=", ",,,", " \t ", "Bearer", "Bearer ", "Bearer realm",
        "Bearer realm=", "Bearer realm=\"", "Bearer realm=\"\\",
        "Bearer realm=\"x\\\"", "Bearer realm=\"x\" service=\"y",
        "Bearer ,realm=\"a\",", "Bearer realm==x", "Basic realm=\"",
        "Bearer realm=\"a\", Basic", "\"Bearer\" realm=\"x\""}) {
    std::vector<AuthChallenge> parsed;
    EXPECT_NO_THROW(parsed = ParseAuthChallenges(header)) << header;
    for (const AuthChallenge& challenge : parsed)
      EXPECT_FALSE(challenge.scheme.empty()) << header;
  }
}

TEST(RegistryClientTest, UnterminatedRealmIsAnErrorOrAToken) {
  FakeHttp http;
  http.On("https://r.example/v2/app/manifests/v1", [](const HttpRequest&) {
    return Respond(
        401, "", {{"www-authenticate", R"(Bearer realm="https://t.example)"}});
  });
  http.On("https://t.example",
          [](const HttpRequest&) { return Respond(401, ""); });
  RegistryClient client(&http, RegistryHosts({}));
  absl::StatusOr<FetchedManifest> m;
  ASSERT_NO_THROW(m = client.GetManifest(Ref("r.example/app"), "v1", {}));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kPermissionDenied);
}

// A registry whose token service grants tokens by credentials: only
// "alice:pw" gets "tok-alice", and only tok-alice reads the manifest.
class PrivateRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    http_.On("https://auth.example/token", [this](const HttpRequest& r) {
      ++token_requests_;
      if (HeaderOf(r, "Authorization") ==
          "Basic " + absl::Base64Escape("alice:pw")) {
        return Respond(200, R"({"token":"tok-alice"})");
      }
      return Respond(200, R"({"token":"tok-anonymous"})");
    });
    auto serve = [](const HttpRequest& r) {
      if (HeaderOf(r, "Authorization") == "Bearer tok-alice")
        return Respond(200, kManifest);
      return Respond(
          401, R"({"errors":[{"code":"UNAUTHORIZED","message":"no"}]})",
          {{"www-authenticate",
            R"(Bearer realm="https://auth.example/token",service="reg")"}});
    };
    http_.On("https://private.example/v2/", serve);
    http_.On("https://mirror.example/v2/", serve);
  }
  FakeHttp http_;
  int token_requests_ = 0;
};

TEST_F(PrivateRegistryTest, APullWithoutCredentialsDoesNotReuseAnothersToken) {
  RegistryClient client(&http_, RegistryHosts({}));
  RegistryCredentials alice{"alice", "pw", "", ""};
  ASSERT_TRUE(
      client.GetManifest(Ref("private.example/secret"), "v1", alice).ok());
  absl::Status anonymous =
      client.GetManifest(Ref("private.example/secret"), "v1", {}).status();
  EXPECT_EQ(anonymous.code(), absl::StatusCode::kPermissionDenied) << anonymous;
  absl::Status wrong = client
                           .GetManifest(Ref("private.example/secret"), "v1",
                                        {"alice", "guess", "", ""})
                           .status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kPermissionDenied) << wrong;
  // Alice's token is still cached for alice.
  int before = token_requests_;
  ASSERT_TRUE(
      client.GetManifest(Ref("private.example/secret"), "v1", alice).ok());
  EXPECT_EQ(token_requests_, before);
}

TEST_F(PrivateRegistryTest, MirrorsGetCredentialsOnlyWhenConfigured) {
  RegistryCredentials alice{"alice", "pw", "", ""};
  std::string alice_basic = "Basic " + absl::Base64Escape("alice:pw");
  auto sent_to_mirror = [&](const FakeHttp& http) {
    // Whether anything sent while pulling from the mirror carried alice's
    // secret (the token request a mirror's challenge causes included).
    bool sent = false;
    bool after_mirror = false;
    for (const HttpRequest& r : http.requests) {
      if (absl::StartsWith(r.url, "https://mirror.example/")) {
        after_mirror = true;
        sent |= HeaderOf(r, "Authorization") == "Bearer tok-alice";
      } else if (absl::StartsWith(r.url, "https://private.example/")) {
        after_mirror = false;
      } else if (after_mirror) {
        sent |= HeaderOf(r, "Authorization") == alice_basic;
      }
    }
    return sent;
  };
  RegistryHostsOptions options;
  options.mirrors["private.example"] = {"https://mirror.example"};
  {
    RegistryClient client(&http_, RegistryHosts(options));
    // The mirror refuses the anonymous pull; the registry itself serves.
    ASSERT_TRUE(
        client.GetManifest(Ref("private.example/secret"), "v1", alice).ok());
    EXPECT_FALSE(sent_to_mirror(http_));
    EXPECT_TRUE(absl::StartsWith(http_.requests.back().url,
                                 "https://private.example/"));
  }
  http_.requests.clear();
  options.mirror_credentials = {"private.example"};
  RegistryClient client(&http_, RegistryHosts(options));
  ASSERT_TRUE(
      client.GetManifest(Ref("private.example/secret"), "v1", alice).ok());
  EXPECT_TRUE(sent_to_mirror(http_));
  EXPECT_TRUE(
      absl::StartsWith(http_.requests.back().url, "https://mirror.example/"));
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

// Mirrors are asked anonymously: one that wants credentials, or refuses
// them at its token service, must not stop the blob coming from upstream.
TEST(RegistryClientTest, BlobFallsBackToUpstreamWhenMirrorsWantAuth) {
  FakeHttp http;
  const std::string blob = "layer bytes";
  Digest digest = Digest::OfBytes(blob);
  http.On("https://basic-mirror.example/v2/", [](const HttpRequest& r) {
    if (!HeaderOf(r, "Authorization").empty()) return Respond(200, "leaked");
    return Respond(401, "", {{"www-authenticate", R"(Basic realm="m")"}});
  });
  http.On("https://token-mirror.example/v2/", [](const HttpRequest&) {
    return Respond(401, "",
                   {{"www-authenticate",
                     R"(Bearer realm="https://mirror-auth.example")"}});
  });
  http.On("https://mirror-auth.example",
          [](const HttpRequest&) { return Respond(403, ""); });
  http.On("https://r.example/v2/app/blobs/" + digest.ToString(),
          [&](const HttpRequest&) { return Respond(200, blob); });
  RegistryHostsOptions options;
  options.mirrors["r.example"] = {"https://basic-mirror.example",
                                  "https://token-mirror.example"};
  RegistryClient client(&http, RegistryHosts(options));
  std::string got;
  absl::Status s =
      client.FetchBlob(Ref("r.example/app"), digest, 0, {"alice", "pw", "", ""},
                       [&](int, absl::string_view chunk) {
                         got.append(chunk.data(), chunk.size());
                         return absl::OkStatus();
                       });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(got, blob);
  EXPECT_TRUE(absl::StartsWith(http.requests.back().url, "https://r.example/"));
  int mirror_requests = 0;
  for (const HttpRequest& r : http.requests) {
    if (absl::StartsWith(r.url, "https://basic-mirror.example/")) {
      ++mirror_requests;
      EXPECT_EQ(HeaderOf(r, "Authorization"), "") << "credentials to a mirror";
    }
  }
  EXPECT_EQ(mirror_requests, 1);
}

TEST(RegistryClientTest, UnreachableRegistryIsUnavailable) {
  FakeHttp http;
  RegistryClient client(&http, RegistryHosts({}));
  EXPECT_EQ(
      client.GetManifest(Ref("down.example/app"), "v1", {}).status().code(),
      absl::StatusCode::kUnavailable);
}

TEST(RegistryHostsTest, LocalHostsAreLoopbackNamesAndAddresses) {
  for (const char* host : {"localhost", "LocalHost:5000", "127.0.0.1",
                           "127.0.0.1:5000", "127.255.0.9:80", "[::1]",
                           "[::1]:5000", "::1", "[::ffff:127.0.0.1]:443"}) {
    EXPECT_TRUE(IsLocalHost(host)) << host;
  }
  for (const char* host : {"localhost.example.com", "localhostx:5000",
                           "10.0.0.1:5000", "128.0.0.1", "[::2]:5000", "::",
                           "registry-1.docker.io", "", "[::ffff:10.0.0.1]"}) {
    EXPECT_FALSE(IsLocalHost(host)) << host;
  }
}

TEST(RegistryHostsTest, OnlyLocalHostsWithNoSchemeConfiguredFallBack) {
  RegistryHostsOptions options;
  options.plain_http = {"localhost:5001"};
  options.mirrors["docker.io"] = {"127.0.0.1:5002", "https://[::1]:5003",
                                  "http://localhost:5004"};
  RegistryHosts hosts(options);
  std::vector<RegistryEndpoint> eps = hosts.Endpoints("docker.io");
  ASSERT_EQ(eps.size(), 4u);
  EXPECT_EQ(eps[0].base_url, "https://127.0.0.1:5002");
  EXPECT_TRUE(eps[0].http_fallback) << "a local mirror with no scheme";
  EXPECT_FALSE(eps[1].http_fallback) << "https:// was asked for";
  EXPECT_FALSE(eps[2].http_fallback) << "http already";
  EXPECT_FALSE(eps[3].http_fallback) << "Docker Hub is not local";
  eps = hosts.Endpoints("localhost:5001");
  EXPECT_EQ(eps[0].base_url, "http://localhost:5001") << "plain_http";
  EXPECT_FALSE(eps[0].http_fallback);
  eps = hosts.Endpoints("[::1]:5000");
  EXPECT_EQ(eps[0].base_url, "https://[::1]:5000");
  EXPECT_TRUE(eps[0].http_fallback);
}

absl::Status TlsHandshakeFailed(const std::string& url) {
  return WithTransportFailure(
      absl::UnavailableError("GET " + url + ": SSL connect error"),
      TransportFailure::kTlsHandshake);
}

std::vector<std::string> Urls(const FakeHttp& http) {
  std::vector<std::string> urls;
  for (const HttpRequest& r : http.requests) urls.push_back(r.url);
  return urls;
}

// A local registry that only speaks http, asked for by name with no
// plain_http entry: https first, then http; and http from then on, auth and
// credentials as for any registry.
TEST(RegistryClientTest, LocalRegistryWithoutTlsIsReachedOverPlainHttp) {
  FakeHttp http;
  const std::string blob = "layer";
  Digest digest = Digest::OfBytes(blob);
  const std::string basic = "Basic " + absl::Base64Escape("alice:pw");
  http.Fail("https://127.0.0.1:5000/",
            TlsHandshakeFailed("https://127.0.0.1:5000/"));
  http.On("http://127.0.0.1:5000/v2/app/manifests/v1",
          [&](const HttpRequest& r) {
            if (HeaderOf(r, "Authorization") != basic)
              return Respond(401, "", {{"www-authenticate", "Basic realm=r"}});
            return Respond(200, kManifest);
          });
  http.On("http://127.0.0.1:5000/v2/app/blobs/",
          [&](const HttpRequest&) { return Respond(200, blob); });
  RegistryClient client(&http, RegistryHosts({}));
  RegistryCredentials creds{"alice", "pw", "", ""};
  absl::StatusOr<FetchedManifest> m =
      client.GetManifest(Ref("127.0.0.1:5000/app"), "v1", creds);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->bytes, kManifest);
  EXPECT_THAT(Urls(http), ::testing::ElementsAre(
                              "https://127.0.0.1:5000/v2/app/manifests/v1",
                              "http://127.0.0.1:5000/v2/app/manifests/v1",
                              "http://127.0.0.1:5000/v2/app/manifests/v1"))
      << "the answer to the challenge goes straight to http";

  http.requests.clear();
  std::string got;
  ASSERT_TRUE(client
                  .FetchBlob(Ref("127.0.0.1:5000/app"), digest, 0, creds,
                             [&](int, absl::string_view chunk) {
                               got.append(chunk.data(), chunk.size());
                               return absl::OkStatus();
                             })
                  .ok());
  EXPECT_EQ(got, blob) << "each byte once";
  EXPECT_THAT(Urls(http),
              ::testing::ElementsAre("http://127.0.0.1:5000/v2/app/blobs/" +
                                     digest.ToString()))
      << "remembered for the host";
}

TEST(RegistryClientTest, LocalRegistryThatTookUpTlsIsAskedOverHttpsAgain) {
  FakeHttp http;
  bool tls = false;
  http.OnResult("https://localhost:5000/",
                [&](const HttpRequest& r) -> absl::StatusOr<HttpResponse> {
                  if (!tls) return TlsHandshakeFailed(r.url);
                  return Respond(200, kManifest);
                });
  http.On("http://localhost:5000/", [&](const HttpRequest&) {
    // What a TLS server answers a plain http request.
    return tls ? Respond(400, "Client sent an HTTP request to an HTTPS server")
               : Respond(200, kManifest);
  });
  RegistryClient client(&http, RegistryHosts({}));
  ASSERT_TRUE(client.GetManifest(Ref("localhost:5000/app"), "v1", {}).ok());
  tls = true;
  http.requests.clear();
  ASSERT_TRUE(client.GetManifest(Ref("localhost:5000/app"), "v1", {}).ok());
  EXPECT_THAT(Urls(http), ::testing::ElementsAre(
                              "http://localhost:5000/v2/app/manifests/v1",
                              "https://localhost:5000/v2/app/manifests/v1"));
  http.requests.clear();
  ASSERT_TRUE(client.GetManifest(Ref("localhost:5000/app"), "v1", {}).ok());
  EXPECT_THAT(Urls(http), ::testing::ElementsAre(
                              "https://localhost:5000/v2/app/manifests/v1"));
}

// Plain http only where https never reached a TLS server.
TEST(RegistryClientTest, NoPlainHttpFallbackForAnswersCertificatesOrRemotes) {
  struct Case {
    std::string what;
    std::string domain;
    std::function<absl::StatusOr<HttpResponse>(const HttpRequest&)> https;
    bool falls_back;
  };
  auto answer = [](int status) {
    return [status](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
      return Respond(status, "");
    };
  };
  auto fail = [](absl::Status s, TransportFailure kind) {
    return [s, kind](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
      return WithTransportFailure(s, kind);
    };
  };
  absl::Status refused = absl::UnavailableError("Couldn't connect to server");
  absl::Status bad_cert =
      absl::UnavailableError("SSL peer certificate was not OK");
  std::vector<Case> cases = {
      {"HTTP 500", "127.0.0.1:5000", answer(500), false},
      {"HTTP 400", "127.0.0.1:5000", answer(400), false},
      {"HTTP 401 with no way to authorize", "127.0.0.1:5000", answer(401),
       false},
      {"a certificate that does not verify", "127.0.0.1:5000",
       fail(bad_cert, TransportFailure::kOther), false},
      {"refused on the port given", "127.0.0.1:5000",
       fail(refused, TransportFailure::kConnect), false},
      {"refused on 443, no port given", "localhost",
       fail(refused, TransportFailure::kConnect), true},
      {"a TLS failure at a remote host", "r.example:5000",
       fail(TlsHandshakeFailed("x"), TransportFailure::kTlsHandshake), false},
      {"a TLS failure at [::1]", "[::1]:5000",
       fail(TlsHandshakeFailed("x"), TransportFailure::kTlsHandshake), true},
  };
  for (const Case& c : cases) {
    FakeHttp http;
    http.OnResult("https://", c.https);
    http.On("http://",
            [](const HttpRequest&) { return Respond(200, kManifest); });
    RegistryClient client(&http, RegistryHosts({}));
    absl::StatusOr<FetchedManifest> m =
        client.GetManifest(Ref(c.domain + "/app"), "v1", {});
    EXPECT_EQ(m.ok(), c.falls_back) << c.what << ": " << m.status();
    bool asked_http = false;
    for (const HttpRequest& r : http.requests)
      asked_http |= absl::StartsWith(r.url, "http://");
    EXPECT_EQ(asked_http, c.falls_back) << c.what;
  }
}

TEST(RegistryClientTest, PlainHttpHostsAreNeverAskedOverHttps) {
  FakeHttp http;
  http.On("http://localhost:5000/",
          [](const HttpRequest&) { return Respond(200, kManifest); });
  RegistryHostsOptions options;
  options.plain_http = {"localhost:5000"};
  RegistryClient client(&http, RegistryHosts(options));
  ASSERT_TRUE(client.GetManifest(Ref("localhost:5000/app"), "v1", {}).ok());
  EXPECT_THAT(Urls(http), ::testing::ElementsAre(
                              "http://localhost:5000/v2/app/manifests/v1"));
}

TEST(RegistryClientTest, BothSchemesFailingNamesBoth) {
  FakeHttp http;
  http.Fail("https://localhost/",
            WithTransportFailure(absl::UnavailableError("https refused"),
                                 TransportFailure::kConnect));
  http.Fail("http://localhost/",
            WithTransportFailure(absl::UnavailableError("http refused"),
                                 TransportFailure::kConnect));
  RegistryClient client(&http, RegistryHosts({}));
  absl::Status s = client.GetManifest(Ref("localhost/app"), "v1", {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("https refused"));
  EXPECT_THAT(s.message(), HasSubstr("then over plain http: http refused"));
}

}  // namespace
}  // namespace cradle
