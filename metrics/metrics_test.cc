#include "metrics/metrics.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cradle::metrics {
namespace {

using ::testing::HasSubstr;

TEST(Registry, WritesCounterWithHelpTypeAndLabels) {
  Registry r;
  Counter* c =
      r.AddCounter("cradle_things_total", "Things done.", {"method", "code"});
  c->Inc({"/a.B/C", "OK"});
  c->Inc({"/a.B/C", "OK"}, 2);
  c->Inc({"/a.B/C", "NotFound"});
  EXPECT_EQ(r.Exposition(),
            "# HELP cradle_things_total Things done.\n"
            "# TYPE cradle_things_total counter\n"
            "cradle_things_total{method=\"/a.B/C\",code=\"NotFound\"} 1\n"
            "cradle_things_total{method=\"/a.B/C\",code=\"OK\"} 3\n");
  EXPECT_EQ(c->Value({"/a.B/C", "OK"}), 3);
  EXPECT_EQ(c->Value({"/a.B/C", "Internal"}), 0);
}

TEST(Registry, UnlabelledFamiliesShowZeroBeforeFirstUpdate) {
  Registry r;
  r.AddCounter("cradle_a_total", "A.", {});
  r.AddGauge("cradle_b", "B.", {});
  r.AddGauge("cradle_c", "C.", {"state"});  // labelled: no series yet
  EXPECT_EQ(r.Exposition(),
            "# HELP cradle_a_total A.\n# TYPE cradle_a_total counter\n"
            "cradle_a_total 0\n"
            "# HELP cradle_b B.\n# TYPE cradle_b gauge\ncradle_b 0\n"
            "# HELP cradle_c C.\n# TYPE cradle_c gauge\n");
}

TEST(Registry, EscapesHelpAndLabelValues) {
  Registry r;
  Gauge* g =
      r.AddGauge("cradle_g", "back\\slash and\nnewline \"quoted\"", {"v"});
  g->Set({"a\"b\\c\nd"}, 1.5);
  EXPECT_EQ(r.Exposition(),
            "# HELP cradle_g back\\\\slash and\\nnewline \"quoted\"\n"
            "# TYPE cradle_g gauge\n"
            "cradle_g{v=\"a\\\"b\\\\c\\nd\"} 1.5\n");
}

TEST(Registry, FormatsValuesExactly) {
  Registry r;
  Gauge* g = r.AddGauge("cradle_v", "V.", {"k"});
  g->Set({"big"}, 12345678901.0);
  g->Set({"inf"}, 1.0 / 0.0);
  g->Set({"neg"}, -0.25);
  g->Set({"nan"}, 0.0 / 0.0);
  std::string text = r.Exposition();
  EXPECT_THAT(text, HasSubstr("cradle_v{k=\"big\"} 12345678901\n"));
  EXPECT_THAT(text, HasSubstr("cradle_v{k=\"inf\"} +Inf\n"));
  EXPECT_THAT(text, HasSubstr("cradle_v{k=\"neg\"} -0.25\n"));
  EXPECT_THAT(text, HasSubstr("cradle_v{k=\"nan\"} NaN\n"));
}

TEST(Registry, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  Histogram* h = r.AddHistogram("cradle_d_seconds", "D.", {"m"}, {0.1, 1});
  h->Observe({"x"}, 0.05);
  h->Observe({"x"}, 0.1);  // an upper bound is inclusive
  h->Observe({"x"}, 0.5);
  h->Observe({"x"}, 7);
  EXPECT_EQ(r.Exposition(),
            "# HELP cradle_d_seconds D.\n"
            "# TYPE cradle_d_seconds histogram\n"
            "cradle_d_seconds_bucket{m=\"x\",le=\"0.1\"} 2\n"
            "cradle_d_seconds_bucket{m=\"x\",le=\"1\"} 3\n"
            "cradle_d_seconds_bucket{m=\"x\",le=\"+Inf\"} 4\n"
            "cradle_d_seconds_sum{m=\"x\"} 7.65\n"
            "cradle_d_seconds_count{m=\"x\"} 4\n");
  EXPECT_EQ(h->Count({"x"}), 4u);
}

TEST(Registry, HistogramPutsNaNInInfOnly) {
  Registry r;
  Histogram* h = r.AddHistogram("cradle_n", "N.", {}, {1});
  h->Observe({}, 0.0 / 0.0);
  EXPECT_THAT(r.Exposition(), HasSubstr("cradle_n_bucket{le=\"1\"} 0\n"
                                        "cradle_n_bucket{le=\"+Inf\"} 1\n"));
}

TEST(Registry, UnlabelledHistogramHasNoBracesOnSumAndCount) {
  Registry r;
  r.AddHistogram("cradle_e_seconds", "E.", {}, {1});
  EXPECT_EQ(r.Exposition(),
            "# HELP cradle_e_seconds E.\n"
            "# TYPE cradle_e_seconds histogram\n"
            "cradle_e_seconds_bucket{le=\"1\"} 0\n"
            "cradle_e_seconds_bucket{le=\"+Inf\"} 0\n"
            "cradle_e_seconds_sum 0\n"
            "cradle_e_seconds_count 0\n");
}

TEST(Registry, SameNameSameShapeReturnsSameFamily) {
  Registry r;
  Counter* a = r.AddCounter("cradle_x_total", "X.", {"l"});
  Counter* b = r.AddCounter("cradle_x_total", "X again.", {"l"});
  EXPECT_EQ(a, b);
}

TEST(RegistryDeathTest, SameNameOtherShapeIsAProgrammingError) {
  Registry r;
  r.AddCounter("cradle_x_total", "X.", {"l"});
  EXPECT_DEATH(r.AddGauge("cradle_x_total", "X.", {"l"}), "registered again");
  EXPECT_DEATH(r.AddCounter("cradle_x_total", "X.", {"other"}),
               "registered again");
  EXPECT_DEATH(r.AddCounter("bad-name", "X.", {}), "bad metric name");
  EXPECT_DEATH(r.AddCounter("cradle_y_total", "Y.", {"__reserved"}),
               "bad label name");
  EXPECT_DEATH(r.AddHistogram("cradle_h", "H.", {}, {1, 1}), "increasing");
  EXPECT_DEATH(r.AddHistogram("cradle_h", "H.", {"le"}, {1}), "label le");
}

TEST(Registry, WrongLabelCountDropsTheUpdate) {
  Registry r;
  Counter* c = r.AddCounter("cradle_x_total", "X.", {"a", "b"});
  c->Inc({"only-one"});
  c->Inc({"a"}, -1);  // also dropped: wrong count
  EXPECT_EQ(r.Exposition(),
            "# HELP cradle_x_total X.\n# TYPE cradle_x_total counter\n");
}

TEST(Registry, CounterIgnoresNegativeIncrements) {
  Registry r;
  Counter* c = r.AddCounter("cradle_x_total", "X.", {});
  c->Inc({}, 2);
  c->Inc({}, -1);
  EXPECT_EQ(c->Value(), 2);
}

TEST(Registry, GaugeSetAddClear) {
  Registry r;
  Gauge* g = r.AddGauge("cradle_g", "G.", {"s"});
  g->Set({"a"}, 3);
  g->Add({"a"}, -1);
  g->Add({"b"}, 5);
  EXPECT_EQ(g->Value({"a"}), 2);
  EXPECT_EQ(g->Value({"b"}), 5);
  g->Clear();
  EXPECT_EQ(r.Exposition(), "# HELP cradle_g G.\n# TYPE cradle_g gauge\n");
}

TEST(Registry, CollectorsRunAtEachScrapeBeforeWriting) {
  Registry r;
  Gauge* g = r.AddGauge("cradle_scrapes", "S.", {});
  int runs = 0;
  r.AddCollector([&] { g->Set({}, ++runs); });
  EXPECT_THAT(r.Exposition(), HasSubstr("cradle_scrapes 1\n"));
  EXPECT_THAT(r.Exposition(), HasSubstr("cradle_scrapes 2\n"));
}

TEST(Registry, FamiliesAreSortedByName) {
  Registry r;
  r.AddGauge("cradle_z", "Z.", {});
  r.AddGauge("cradle_a", "A.", {});
  std::string text = r.Exposition();
  EXPECT_LT(text.find("cradle_a"), text.find("cradle_z"));
}

TEST(Registry, ConcurrentUpdatesAndScrapesLoseNothing) {
  Registry r;
  Counter* c = r.AddCounter("cradle_x_total", "X.", {"t"});
  Histogram* h = r.AddHistogram("cradle_h_seconds", "H.", {}, LatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        c->Inc({t % 2 ? "odd" : "even"});
        h->Observe({}, 0.01);
        if (i % 100 == 0) (void)r.Exposition();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(c->Value({"odd"}), 2000);
  EXPECT_EQ(c->Value({"even"}), 2000);
  EXPECT_EQ(h->Count(), 4000u);
}

TEST(Buckets, ExponentialBuckets) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
}

TEST(Default, IsOneRegistry) { EXPECT_EQ(&Default(), &Default()); }

}  // namespace
}  // namespace cradle::metrics
