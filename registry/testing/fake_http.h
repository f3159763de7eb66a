// A scripted HttpClient for registry tests: routes by URL prefix, records
// every request, streams 2xx bodies to a sink in two chunks.
#ifndef CRADLE_REGISTRY_TESTING_FAKE_HTTP_H_
#define CRADLE_REGISTRY_TESTING_FAKE_HTTP_H_

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "registry/http_client.h"

namespace cradle {

class FakeHttp : public HttpClient {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // A handler that may also fail the request before any response.
  using ResultHandler =
      std::function<absl::StatusOr<HttpResponse>(const HttpRequest&)>;
  // Requests are answered by the first handler whose URL prefix matches.
  void On(std::string url_prefix, Handler handler) {
    OnResult(std::move(url_prefix),
             [handler = std::move(handler)](const HttpRequest& r)
                 -> absl::StatusOr<HttpResponse> { return handler(r); });
  }
  void OnResult(std::string url_prefix, ResultHandler handler) {
    routes_.push_back({std::move(url_prefix), std::move(handler)});
  }
  // Requests to `url_prefix` fail before any response, with `status` (e.g.
  // tagged by WithTransportFailure).
  void Fail(std::string url_prefix, absl::Status status) {
    OnResult(std::move(url_prefix),
             [status](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
               return status;
             });
  }
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request,
                                  const BodySink& sink,
                                  int64_t max_body) override {
    {
      // A pull fetches layers from several threads.
      absl::MutexLock lock(&mu_);
      requests.push_back(request);
    }
    for (auto& [prefix, handler] : routes_) {
      if (!absl::StartsWith(request.url, prefix)) continue;
      absl::StatusOr<HttpResponse> answer = handler(request);
      if (!answer.ok()) return answer.status();
      HttpResponse response = *std::move(answer);
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
  absl::Mutex mu_;
  std::vector<std::pair<std::string, ResultHandler>> routes_;
};

inline std::string HeaderOf(const HttpRequest& r, absl::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

inline HttpResponse Respond(
    int status, std::string body,
    std::multimap<std::string, std::string> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

}  // namespace cradle

#endif  // CRADLE_REGISTRY_TESTING_FAKE_HTTP_H_
