#include "cri/runtime/metrics_builder.h"

#include <map>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cradle {
namespace {

namespace v1 = runtime::v1;
using ::testing::ElementsAre;

std::map<std::string, v1::MetricDescriptor> ByName() {
  std::map<std::string, v1::MetricDescriptor> out;
  for (const v1::MetricDescriptor& d : MetricDescriptors()) {
    EXPECT_TRUE(out.emplace(d.name(), d).second) << "twice: " << d.name();
  }
  return out;
}

CgroupMetrics Sample() {
  CgroupMetrics m;
  m.cpu_usage_ns = 3500000000;  // 3.5 s
  m.cpu_user_ns = 2000000000;
  m.memory_usage = 10000;
  m.working_set = 7000;
  m.rss = 4096;
  m.page_faults = 77;
  m.major_page_faults = 2;
  m.processes = 2;
  m.threads = 5;
  m.memory_limit = 1 << 20;
  m.cpu_quota_us = 50000;
  m.cpu_period_us = 100000;
  Psi psi;
  psi.some.total_us = 4000000;
  psi.full.total_us = 1000000;
  m.cpu_psi = psi;
  return m;
}

const v1::Metric* Get(const google::protobuf::RepeatedPtrField<v1::Metric>& ms,
                      const std::string& name,
                      const std::string& last_label = "") {
  for (const v1::Metric& m : ms) {
    if (m.name() == name &&
        (last_label.empty() ||
         m.label_values(m.label_values_size() - 1) == last_label)) {
      return &m;
    }
  }
  return nullptr;
}

TEST(MetricsBuilder, EveryMetricMatchesItsDescriptor) {
  std::map<std::string, v1::MetricDescriptor> descriptors = ByName();
  google::protobuf::RepeatedPtrField<v1::Metric> out;
  MetricsBuilder b({"web", "default", "app", "cid", "busybox:latest"}, 42,
                   &out);
  b.AddCgroup(Sample());
  b.AddNetwork({InterfaceCounters{"eth0", 100, 2, 0, 0, 200, 3, 0, 0}});
  b.AddFilesystem(FilesystemUsage{"/var/lib/cradle/snapshots/overlayfs", 4096,
                                  1 << 30, 1000, 900});
  b.AddTimes(int64_t{1700000000} * 1000000000);
  std::set<std::string> seen;
  for (const v1::Metric& m : out) {
    auto d = descriptors.find(m.name());
    ASSERT_NE(d, descriptors.end()) << m.name();
    EXPECT_EQ(m.label_values_size(), d->second.label_keys_size()) << m.name();
    EXPECT_EQ(m.timestamp(), 42);
    EXPECT_EQ(m.label_values(0), "web");
    EXPECT_EQ(m.label_values(3), "cid");
    seen.insert(m.name());
  }
  for (const char* name :
       {"container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes", "container_memory_usage_bytes",
        "container_memory_rss", "container_memory_cache",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total", "container_fs_usage_bytes",
        "container_processes", "container_threads",
        "container_pressure_cpu_waiting_seconds_total",
        "container_start_time_seconds"}) {
    EXPECT_TRUE(seen.count(name)) << name;
  }
  EXPECT_FALSE(seen.count("container_pressure_io_waiting_seconds_total"))
      << "no io.pressure, no series";
}

TEST(MetricsBuilder, ValuesTypesAndLabels) {
  google::protobuf::RepeatedPtrField<v1::Metric> out;
  MetricsBuilder b({"web", "default", "", "podid", ""}, 1, &out);
  b.AddCgroup(Sample());
  b.AddNetwork({InterfaceCounters{"eth0", 100, 2, 0, 1, 200, 3, 0, 0}});

  const v1::Metric* cpu = Get(out, "container_cpu_usage_seconds_total");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->metric_type(), v1::COUNTER);
  EXPECT_EQ(cpu->value().value(), 3u) << "whole seconds";
  EXPECT_THAT(cpu->label_values(),
              ElementsAre("web", "default", "", "podid", ""));

  const v1::Metric* ws = Get(out, "container_memory_working_set_bytes");
  ASSERT_NE(ws, nullptr);
  EXPECT_EQ(ws->metric_type(), v1::GAUGE);
  EXPECT_EQ(ws->value().value(), 7000u);

  const v1::Metric* major =
      Get(out, "container_memory_failures_total", "container");
  ASSERT_NE(major, nullptr);
  EXPECT_EQ(major->metric_type(), v1::COUNTER);

  const v1::Metric* rx = Get(out, "container_network_receive_bytes_total");
  ASSERT_NE(rx, nullptr);
  EXPECT_EQ(rx->value().value(), 100u);
  EXPECT_THAT(rx->label_values(),
              ElementsAre("web", "default", "", "podid", "", "eth0"));
  EXPECT_EQ(Get(out, "container_network_receive_packets_dropped_total")
                ->value()
                .value(),
            1u);
  EXPECT_EQ(Get(out, "container_spec_cpu_quota")->value().value(), 50000u);
  EXPECT_EQ(Get(out, "container_spec_memory_limit_bytes")->value().value(),
            1u << 20);
  EXPECT_EQ(
      Get(out, "container_pressure_cpu_waiting_seconds_total")->value().value(),
      4u);
}

TEST(FillPsi, TotalsInNanoseconds) {
  Psi psi;
  psi.some = {1500, 1.25, 0.5, 0.125};
  psi.full = {700, 0, 0, 0};
  v1::PsiStats out;
  FillPsi(psi, &out);
  EXPECT_EQ(out.some().total(), 1500000u);
  EXPECT_DOUBLE_EQ(out.some().avg10(), 1.25);
  EXPECT_DOUBLE_EQ(out.some().avg300(), 0.125);
  EXPECT_EQ(out.full().total(), 700000u);
}

TEST(FillPressure, OnlyWhatIsKnown) {
  CgroupPressure p;
  Psi psi;
  psi.some.total_us = 3;
  p.io = psi;
  v1::ContainerStats stats;
  FillPressure(p, 9, stats.mutable_cpu(), stats.mutable_memory(),
               stats.mutable_io());
  EXPECT_FALSE(stats.cpu().has_psi()) << "v1, or no cpu.pressure";
  EXPECT_FALSE(stats.memory().has_psi());
  EXPECT_EQ(stats.io().timestamp(), 9);
  EXPECT_EQ(stats.io().psi().some().total(), 3000u);
}

TEST(ParseNetDev, SkipsHeadersAndLoopback) {
  std::vector<InterfaceCounters> ifs = ParseNetDev(
      "Inter-|   Receive                                                |  "
      "Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|"
      "bytes    packets errs drop fifo colls carrier compressed\n"
      "    lo:     500       5    0    0    0     0          0         0"
      "      500       5    0    0    0     0       0          0\n"
      "  eth0:    1234      10    1    2    0     0          0         0"
      "     5678      20    3    4    0     0       0          0\n");
  ASSERT_EQ(ifs.size(), 1u);
  EXPECT_EQ(ifs[0].name, "eth0");
  EXPECT_EQ(ifs[0].rx_bytes, 1234u);
  EXPECT_EQ(ifs[0].rx_packets, 10u);
  EXPECT_EQ(ifs[0].rx_errors, 1u);
  EXPECT_EQ(ifs[0].rx_dropped, 2u);
  EXPECT_EQ(ifs[0].tx_bytes, 5678u);
  EXPECT_EQ(ifs[0].tx_packets, 20u);
  EXPECT_EQ(ifs[0].tx_errors, 3u);
  EXPECT_EQ(ifs[0].tx_dropped, 4u);
}

}  // namespace
}  // namespace cradle
