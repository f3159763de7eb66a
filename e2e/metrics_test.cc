// The Prometheus endpoint of a real cradled ([metrics] address), scraped
// over HTTP and read with Prometheus's own text parser (Debian's
// python3-prometheus-client, e2e/testdata/parse_metrics.py): the families
// parse, and the values follow pods, containers, shims and calls.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "e2e/harness/pod_test.h"
#include "nlohmann/json.hpp"
#include "process/process.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kPython[] = "/usr/bin/python3";  // Debian's, with the parser
constexpr char kRunPod[] = "/runtime.v1.RuntimeService/RunPodSandbox";
constexpr char kStatus[] = "/runtime.v1.RuntimeService/ContainerStatus";

struct HttpResponse {
  int code = 0;
  std::string head;
  std::string body;
};

// One HTTP/1.1 request to 127.0.0.1:port; code 0 when nothing came back.
HttpResponse Http(int port, const std::string& method,
                  const std::string& path) {
  HttpResponse r;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return r;
  }
  std::string req =
      absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  (void)send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string raw;
  char buf[8192];
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, n);
  }
  close(fd);
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.size() < 12) return r;
  r.head = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  (void)absl::SimpleAtoi(raw.substr(9, 3), &r.code);
  return r;
}

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Scraped {
  std::map<std::string, std::string> types;  // family name -> type
  std::vector<Sample> samples;

  // The sample named `name` whose labels include `labels`; nullopt if none.
  std::optional<double> Get(
      const std::string& name,
      const std::map<std::string, std::string>& labels = {}) const {
    for (const Sample& s : samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        match = match && it != s.labels.end() && it->second == v;
      }
      if (match) return s.value;
    }
    return std::nullopt;
  }
  double Or0(const std::string& name,
             const std::map<std::string, std::string>& labels = {}) const {
    return Get(name, labels).value_or(0);
  }
};

// Parses `text` with prometheus_client; fails the test if it cannot.
Scraped Parse(const std::string& text) {
  Scraped out;
  SpawnOptions o;
  o.argv = {kPython, Runfile("e2e/testdata/parse_metrics.py")};
  absl::StatusOr<RunResult> r = RunAndCapture(o, text, absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return out;
  EXPECT_TRUE(r->status.ok())
      << "prometheus_client refused the exposition: " << r->err << "\n"
      << text;
  if (!r->status.ok()) return out;
  nlohmann::json j = nlohmann::json::parse(r->out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r->out;
  if (j.is_discarded()) return out;
  for (const auto& [name, type] : j["families"].items()) {
    out.types[name] = type.get<std::string>();
  }
  for (const auto& s : j["samples"]) {
    Sample sample;
    sample.name = s["name"].get<std::string>();
    for (const auto& [k, v] : s["labels"].items()) {
      sample.labels[k] = v.get<std::string>();
    }
    sample.value = std::stod(s["value"].get<std::string>());
    out.samples.push_back(std::move(sample));
  }
  return out;
}

class MetricsTest : public PodTest {
 protected:
  MetricsTest() : PodTest(89), port_(FreePort().value_or(0)) {}

  std::string ExtraConfig() override {
    return absl::StrCat(PodTest::ExtraConfig(),
                        "\n[metrics]\naddress = \"127.0.0.1:", port_, "\"\n");
  }

  Scraped Scrape() {
    HttpResponse r = Http(port_, "GET", "/v1/metrics");
    EXPECT_EQ(r.code, 200) << r.head;
    EXPECT_THAT(r.head, HasSubstr("Content-Type: text/plain; version=0.0.4; "
                                  "charset=utf-8"));
    return Parse(r.body);
  }

  // Scrapes until `done` holds (bounded), for what settles just after a
  // call returns (the server's side of a cancelled stream).
  template <typename Pred>
  Scraped ScrapeUntil(Pred done) {
    Scraped s;
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    do {
      s = Scrape();
      if (done(s)) break;
      absl::SleepFor(absl::Milliseconds(100));
    } while (absl::Now() < deadline);
    return s;
  }

  const int port_;
};

TEST_F(MetricsTest, FollowsPodsContainersShimsAndCalls) {
  Scraped before = Scrape();
  ASSERT_FALSE(before.samples.empty());
  EXPECT_EQ(before.types["cradle_grpc_server_handled"], "counter");
  EXPECT_EQ(before.types["cradle_grpc_server_handling_seconds"], "histogram");
  EXPECT_EQ(before.types["cradle_pod_sandboxes"], "gauge");
  EXPECT_EQ(before.Get("cradle_pod_sandboxes", {{"state", "ready"}}), 0);
  EXPECT_EQ(before.Get("cradle_containers", {{"state", "running"}}), 0);
  EXPECT_EQ(before.Get("cradle_shims"), 0);
  EXPECT_GT(before.Or0("cradle_process_resident_memory_bytes"), 0);
  EXPECT_GT(before.Or0("cradle_process_open_fds"), 0);
  EXPECT_GT(before.Or0("cradle_process_threads"), 1);
  EXPECT_GT(before.Or0("cradle_process_start_time_seconds"), 1.6e9);
  // The daemon collects garbage at start.
  EXPECT_GE(before.Or0("cradle_gc_runs_total", {{"result", "ok"}}), 1);
  EXPECT_GE(before.Or0("cradle_gc_duration_seconds_count"), 1);
  // The fixture pulled busybox: an ImageService call, counted too.
  EXPECT_GE(before.Or0("cradle_grpc_server_handled_total",
                       {{"grpc_method", "/runtime.v1.ImageService/PullImage"},
                        {"grpc_code", "OK"}}),
            1);
  const std::map<std::string, std::string> run_ok = {{"grpc_method", kRunPod},
                                                     {"grpc_code", "OK"}};
  double runs_before = before.Or0("cradle_grpc_server_handled_total", run_ok);

  std::string pod = RunPod("metrics");
  ASSERT_FALSE(pod.empty());
  std::string ctr = RunContainer(pod, Config("sleeper", {"sleep", "300"}));
  ASSERT_FALSE(ctr.empty());

  Scraped running = Scrape();
  EXPECT_EQ(running.Get("cradle_pod_sandboxes", {{"state", "ready"}}), 1);
  EXPECT_EQ(running.Get("cradle_containers", {{"state", "running"}}), 1);
  EXPECT_EQ(running.Or0("cradle_grpc_server_handled_total", run_ok),
            runs_before + 1);
  EXPECT_GE(running.Or0("cradle_grpc_server_handling_seconds_count", run_ok),
            1);
  EXPECT_GE(
      running.Or0(
          "cradle_grpc_server_handling_seconds_bucket",
          {{"grpc_method", kRunPod}, {"grpc_code", "OK"}, {"le", "+Inf"}}),
      1);
  EXPECT_GE(running.Or0("cradle_shims"), 1);
  EXPECT_GT(running.Or0("cradle_shims_resident_memory_bytes"), 0);
  EXPECT_GT(running.Or0("cradle_shims_anon_memory_bytes"), 0);

  // A call that fails is counted under its code.
  v1::ContainerStatus st;
  grpc::Status missing = Status("no-such-container", &st);
  ASSERT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  Scraped after_miss = Scrape();
  EXPECT_EQ(
      after_miss.Or0("cradle_grpc_server_handled_total",
                     {{"grpc_method", kStatus}, {"grpc_code", "NotFound"}}),
      1);

  ASSERT_TRUE(StopC(ctr, 0).ok());
  Scraped stopped = Scrape();
  EXPECT_EQ(stopped.Get("cradle_containers", {{"state", "running"}}), 0);
  EXPECT_EQ(stopped.Get("cradle_containers", {{"state", "exited"}}), 1);

  ASSERT_TRUE(StopPod(pod).ok());
  Scraped pod_stopped = Scrape();
  EXPECT_EQ(pod_stopped.Get("cradle_pod_sandboxes", {{"state", "ready"}}), 0);
  EXPECT_EQ(pod_stopped.Get("cradle_pod_sandboxes", {{"state", "notready"}}),
            1);

  ASSERT_TRUE(RemovePod(pod).ok());
  Scraped gone =
      ScrapeUntil([](const Scraped& s) { return s.Get("cradle_shims") == 0; });
  EXPECT_EQ(gone.Get("cradle_pod_sandboxes", {{"state", "notready"}}), 0);
  EXPECT_EQ(gone.Get("cradle_containers", {{"state", "exited"}}), 0);
  EXPECT_EQ(gone.Get("cradle_shims"), 0);
  EXPECT_EQ(gone.Get("cradle_shims_resident_memory_bytes"), 0);
}

TEST_F(MetricsTest, CountsStreamingCallsAndContainerdApiCalls) {
  {
    // A server stream the client gives up on: counted when it ends.
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(300));
    auto reader =
        daemon().runtime().GetContainerEvents(&ctx, v1::GetEventsRequest());
    v1::ContainerEventResponse event;
    while (reader->Read(&event)) {
    }
    (void)reader->Finish();
  }
  const std::string events = "/runtime.v1.RuntimeService/GetContainerEvents";
  Scraped s = ScrapeUntil([&](const Scraped& s) {
    return s.Get("cradle_grpc_server_handled_total", {{"grpc_method", events}})
        .has_value();
  });
  EXPECT_GE(
      s.Or0("cradle_grpc_server_handled_total", {{"grpc_method", events}}), 1);
  EXPECT_GE(
      s.Or0("cradle_grpc_server_started_total", {{"grpc_method", events}}), 1);

  // containerd's API on the same socket, through containerd's own client.
  SpawnOptions ctr;
  ctr.argv = {"/usr/bin/ctr", "--address", daemon().socket(), "version"};
  absl::StatusOr<RunResult> r = RunAndCapture(ctr, "", absl::Seconds(60));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->status.ok()) << r->err;
  Scraped after = Scrape();
  EXPECT_GE(after.Or0("cradle_grpc_server_handled_total",
                      {{"grpc_method",
                        "/containerd.services.version.v1.Version/Version"},
                       {"grpc_code", "OK"}}),
            1);
}

TEST_F(MetricsTest, AnswersOnlyGetOnTheMetricsPaths) {
  EXPECT_EQ(Http(port_, "GET", "/metrics").code, 200);
  HttpResponse missing = Http(port_, "GET", "/v1/other");
  EXPECT_EQ(missing.code, 404);
  EXPECT_EQ(Http(port_, "GET", "/").code, 404);
  HttpResponse post = Http(port_, "POST", "/v1/metrics");
  EXPECT_EQ(post.code, 405);
  EXPECT_THAT(post.head, HasSubstr("Allow: GET"));
}

TEST(MetricsConfigTest, BadAddressStopsTheDaemonNamingTheKey) {
  DaemonOptions options;
  options.extra_config = "\n[metrics]\naddress = \"127.0.0.1:99999\"\n";
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(options);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("key \"metrics.address\""));
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("1-65535"));
}

TEST(MetricsConfigTest, PortInUseStopsTheDaemon) {
  int taken = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(taken, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(taken, 1), 0);
  socklen_t len = sizeof(a);
  getsockname(taken, reinterpret_cast<sockaddr*>(&a), &len);
  std::string address = absl::StrCat("127.0.0.1:", ntohs(a.sin_port));

  DaemonOptions options;
  options.extra_config =
      absl::StrCat("\n[metrics]\naddress = \"", address, "\"\n");
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(options);
  close(taken);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("metrics: cannot bind " + address));
}

}  // namespace
}  // namespace cradle::e2e
