// Pod metrics (ListMetricDescriptors, ListPodSandboxMetrics,
// StreamPodSandboxMetrics) and in-place pod resize
// (UpdatePodSandboxResources) over the real socket: real cradled, runc,
// CNI, and pods in a cgroup parent of the test's own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "e2e/harness/pod_test.h"

namespace cradle::e2e {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
namespace fs = std::filesystem;
namespace v1 = runtime::v1;

class PodMetricsTest : public PodTest {
 protected:
  PodMetricsTest() : PodTest(96) {
    cgroup_parent_ = absl::StrCat("/cradle-e2e-metrics-", getpid());
  }
  void TearDown() override {
    PodTest::TearDown();
    // runc made the parent in every v1 controller; the pods are gone.
    std::error_code ec;
    for (const fs::directory_entry& controller :
         fs::directory_iterator("/sys/fs/cgroup", ec)) {
      fs::remove(controller.path().string() + cgroup_parent_, ec);
    }
  }
  v1::PodSandboxConfig PodConfig(const std::string& name) override {
    v1::PodSandboxConfig c = PodTest::PodConfig(name);
    if (with_parent_) c.mutable_linux()->set_cgroup_parent(cgroup_parent_);
    return c;
  }

  std::map<std::string, v1::MetricDescriptor> Descriptors() {
    grpc::ClientContext ctx;
    v1::ListMetricDescriptorsRequest req;
    v1::ListMetricDescriptorsResponse resp;
    grpc::Status s = daemon().runtime().ListMetricDescriptors(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::map<std::string, v1::MetricDescriptor> out;
    for (const v1::MetricDescriptor& d : resp.descriptors()) out[d.name()] = d;
    return out;
  }
  // The pod's entry of ListPodSandboxMetrics (empty when it has none).
  v1::PodSandboxMetrics MetricsOf(const std::string& pod) {
    grpc::ClientContext ctx;
    v1::ListPodSandboxMetricsRequest req;
    v1::ListPodSandboxMetricsResponse resp;
    grpc::Status s = daemon().runtime().ListPodSandboxMetrics(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const v1::PodSandboxMetrics& m : resp.pod_metrics()) {
      if (m.pod_sandbox_id() == pod) return m;
    }
    return {};
  }
  grpc::Status Resize(const std::string& pod,
                      const v1::LinuxContainerResources& r) {
    grpc::ClientContext ctx;
    v1::UpdatePodSandboxResourcesRequest req;
    req.set_pod_sandbox_id(pod);
    *req.mutable_resources() = r;
    v1::UpdatePodSandboxResourcesResponse resp;
    return daemon().runtime().UpdatePodSandboxResources(&ctx, req, &resp);
  }
  int64_t CgroupNumber(const std::string& controller, const std::string& file) {
    int64_t v = -2;
    std::string text = ReadFile(
        absl::StrCat("/sys/fs/cgroup/", controller, cgroup_parent_, "/", file));
    EXPECT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &v))
        << controller << "/" << file << ": \"" << text << "\"";
    return v;
  }

  std::string cgroup_parent_;
  bool with_parent_ = true;
};

// The value of `name` among `metrics` whose label values end in `last`
// (any when empty); -1 when absent.
int64_t Value(const google::protobuf::RepeatedPtrField<v1::Metric>& metrics,
              const std::string& name, const std::string& last = "") {
  for (const v1::Metric& m : metrics) {
    if (m.name() == name &&
        (last.empty() || (m.label_values_size() > 0 &&
                          m.label_values(m.label_values_size() - 1) == last))) {
      return static_cast<int64_t>(m.value().value());
    }
  }
  return -1;
}

const v1::ContainerMetrics* ContainerIn(const v1::PodSandboxMetrics& pm,
                                        const std::string& id) {
  for (const v1::ContainerMetrics& c : pm.container_metrics()) {
    if (c.container_id() == id) return &c;
  }
  return nullptr;
}

TEST_F(PodMetricsTest, DescriptorsNameCadvisorSeries) {
  std::map<std::string, v1::MetricDescriptor> d = Descriptors();
  for (const char* name :
       {"container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes", "container_memory_usage_bytes",
        "container_memory_rss", "container_memory_cache",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total", "container_fs_usage_bytes",
        "container_processes", "container_threads"}) {
    ASSERT_TRUE(d.count(name)) << name;
    EXPECT_THAT(d[name].label_keys(), Contains("pod")) << name;
    EXPECT_THAT(d[name].label_keys(), Contains("container")) << name;
    EXPECT_FALSE(d[name].help().empty()) << name;
  }
  EXPECT_EQ(d["container_network_receive_bytes_total"].label_keys(5),
            "interface");
  EXPECT_EQ(d["container_fs_usage_bytes"].label_keys(5), "device");
}

TEST_F(PodMetricsTest, RunningPodReportsUsageAndCpuRises) {
  std::string pod = RunPod("metrics");
  std::string burn =
      RunContainer(pod, Config("burn", {"sh", "-c", "while :; do :; done"}));
  std::map<std::string, v1::MetricDescriptor> d = Descriptors();

  v1::PodSandboxMetrics first = MetricsOf(pod);
  ASSERT_EQ(first.pod_sandbox_id(), pod) << "a ready pod is listed";
  // Every sample carries one value per label key of its descriptor.
  for (const v1::Metric& m : first.metrics()) {
    ASSERT_TRUE(d.count(m.name())) << m.name();
    EXPECT_EQ(m.label_values_size(), d[m.name()].label_keys_size()) << m.name();
    EXPECT_GT(m.timestamp(), 0);
  }
  const v1::ContainerMetrics* c = ContainerIn(first, burn);
  ASSERT_NE(c, nullptr) << "the running container has metrics";
  for (const v1::Metric& m : c->metrics()) {
    ASSERT_TRUE(d.count(m.name())) << m.name();
    EXPECT_EQ(m.label_values_size(), d[m.name()].label_keys_size()) << m.name();
  }
  EXPECT_GT(Value(c->metrics(), "container_memory_working_set_bytes"), 0);
  EXPECT_GE(Value(c->metrics(), "container_processes"), 1);
  EXPECT_GE(Value(c->metrics(), "container_fs_usage_bytes"), 0);
  EXPECT_GT(Value(first.metrics(), "container_memory_usage_bytes"), 0)
      << "the pod's own cgroup (its parent) is measured";
  int64_t rx =
      Value(first.metrics(), "container_network_receive_bytes_total", "eth0");
  int64_t tx =
      Value(first.metrics(), "container_network_transmit_bytes_total", "eth0");
  ASSERT_GE(rx, 0) << "the pod's eth0 is reported";
  ASSERT_GE(tx, 0) << "the pod's eth0 is reported";
  EXPECT_GT(rx + tx, 0) << "eth0 has seen at least its own DAD/ARP traffic";

  // CPU counts whole seconds: poll until the busy loop has added one, both
  // in the container's series and in the pod's.
  int64_t c0 = Value(c->metrics(), "container_cpu_usage_seconds_total");
  int64_t p0 = Value(first.metrics(), "container_cpu_usage_seconds_total");
  ASSERT_GE(c0, 0);
  ASSERT_GE(p0, 0);
  int64_t c1 = c0, p1 = p0;
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((c1 <= c0 || p1 <= p0) && absl::Now() < deadline) {
    usleep(200 * 1000);
    v1::PodSandboxMetrics now = MetricsOf(pod);
    const v1::ContainerMetrics* cm = ContainerIn(now, burn);
    if (cm == nullptr) break;
    c1 = Value(cm->metrics(), "container_cpu_usage_seconds_total");
    p1 = Value(now.metrics(), "container_cpu_usage_seconds_total");
  }
  EXPECT_GT(c1, c0) << "the container's CPU time rises";
  EXPECT_GT(p1, p0) << "the pod's CPU time rises";

  // The stream answers the same pods.
  {
    grpc::ClientContext ctx;
    v1::StreamPodSandboxMetricsRequest req;
    std::unique_ptr<grpc::ClientReader<v1::StreamPodSandboxMetricsResponse>>
        reader = daemon().runtime().StreamPodSandboxMetrics(&ctx, req);
    v1::StreamPodSandboxMetricsResponse msg;
    bool found = false;
    while (reader->Read(&msg)) {
      for (const v1::PodSandboxMetrics& pm : msg.pod_sandbox_metrics()) {
        found = found || (pm.pod_sandbox_id() == pod &&
                          ContainerIn(pm, burn) != nullptr);
      }
    }
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(found);
  }

  // A stopped pod has nothing to measure.
  ASSERT_TRUE(StopPod(pod).ok());
  EXPECT_TRUE(MetricsOf(pod).pod_sandbox_id().empty());
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(PodMetricsTest, ResizeWritesThePodCgroup) {
  std::string pod = RunPod("resize");
  std::string app = RunContainer(pod, Config("app", {"sleep", "1000"}));

  v1::LinuxContainerResources r;
  r.set_memory_limit_in_bytes(256 << 20);
  r.set_cpu_period(100000);
  r.set_cpu_quota(50000);
  r.set_cpu_shares(512);
  grpc::Status s = Resize(pod, r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(CgroupNumber("memory", "memory.limit_in_bytes"), 256 << 20);
  EXPECT_EQ(CgroupNumber("cpu", "cpu.cfs_quota_us"), 50000);
  EXPECT_EQ(CgroupNumber("cpu", "cpu.cfs_period_us"), 100000);
  EXPECT_EQ(CgroupNumber("cpu", "cpu.shares"), 512);

  // Grow it again, with the pod's overhead on top.
  {
    grpc::ClientContext ctx;
    v1::UpdatePodSandboxResourcesRequest req;
    req.set_pod_sandbox_id(pod);
    req.mutable_resources()->set_memory_limit_in_bytes(512 << 20);
    req.mutable_resources()->set_cpu_quota(200000);
    req.mutable_overhead()->set_memory_limit_in_bytes(16 << 20);
    v1::UpdatePodSandboxResourcesResponse resp;
    s = daemon().runtime().UpdatePodSandboxResources(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(CgroupNumber("memory", "memory.limit_in_bytes"),
            (512 << 20) + (16 << 20));
  EXPECT_EQ(CgroupNumber("cpu", "cpu.cfs_quota_us"), 200000);
  EXPECT_EQ(CgroupNumber("cpu", "cpu.shares"), 512) << "unset: left alone";

  // Nonsense is refused before anything is written.
  v1::LinuxContainerResources bad;
  bad.set_memory_limit_in_bytes(-5);
  s = Resize(pod, bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("memory_limit_in_bytes"));
  bad = {};
  bad.set_cpuset_cpus("0-1\n");
  EXPECT_EQ(Resize(pod, bad).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CgroupNumber("memory", "memory.limit_in_bytes"),
            (512 << 20) + (16 << 20));

  // The container's own limits still update and show in its status.
  {
    grpc::ClientContext ctx;
    v1::UpdateContainerResourcesRequest req;
    req.set_container_id(app);
    req.mutable_linux()->set_memory_limit_in_bytes(64 << 20);
    req.mutable_linux()->set_cpu_quota(20000);
    req.mutable_linux()->set_cpu_period(100000);
    v1::UpdateContainerResourcesResponse resp;
    s = daemon().runtime().UpdateContainerResources(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    v1::ContainerStatus st;
    ASSERT_TRUE(Status(app, &st).ok());
    EXPECT_EQ(st.resources().linux().memory_limit_in_bytes(), 64 << 20);
    EXPECT_EQ(st.resources().linux().cpu_quota(), 20000);
  }

  ASSERT_TRUE(StopPod(pod).ok());
  EXPECT_EQ(Resize(pod, r).error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << "a stopped pod";
  ASSERT_TRUE(RemovePod(pod).ok());
}

TEST_F(PodMetricsTest, ResizeErrorsAreClear) {
  v1::LinuxContainerResources r;
  r.set_memory_limit_in_bytes(64 << 20);
  EXPECT_EQ(Resize("no-such-pod", r).error_code(), grpc::StatusCode::NOT_FOUND);

  with_parent_ = false;
  std::string pod = RunPod("parentless");
  grpc::Status s = Resize(pod, r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("cgroup_parent"));
  ASSERT_TRUE(RemovePod(pod).ok());
}

}  // namespace
}  // namespace cradle::e2e
