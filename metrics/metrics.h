// Prometheus metrics: a registry of counter, gauge and histogram families and
// its text exposition (format 0.0.4), scraped by metrics/server.h.
//
// Depends on nothing of cradle's, so any layer may count things:
//
//   metrics::Counter* pulls = metrics::Default().AddCounter(
//       "cradle_image_pulls_total", "Image pulls by result.", {"result"});
//   pulls->Inc({"ok"});
//
// Thread-safety: every method of every class here is safe to call from any
// thread. Families are never removed, so the pointers Add*() returns live as
// long as their registry (for Default(): the process).
//
// Names: prefix `cradle_`, the unit in the name (`_seconds`, `_bytes`),
// counters end in `_total`. A bad metric or label name, a histogram with
// unsorted buckets, or registering a name again with another type or other
// label names is a programming error and CHECK-fails at registration.
// Passing the wrong number of label values drops that update and logs an
// error (a scrape must never take the daemon down).
#ifndef CRADLE_METRICS_METRICS_H_
#define CRADLE_METRICS_METRICS_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cradle::metrics {

// What all families share: name, help, label names and the locked series.
class Family {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;
  virtual ~Family() = default;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  Type type() const { return type_; }

  // Appends this family's HELP, TYPE and sample lines to `out`.
  virtual void AppendExposition(std::string* out) const = 0;

 protected:
  Family(Type type, std::string name, std::string help,
         std::vector<std::string> label_names);

  // The series key for `label_values`, or false (logged) if the count is
  // wrong.
  bool Key(std::initializer_list<std::string_view> label_values,
           std::vector<std::string>* key) const;

  mutable absl::Mutex mu_;

 private:
  const Type type_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
};

// Only goes up; reset only by a restart of the process.
class Counter : public Family {
 public:
  // Adds `v` (>= 0; a negative `v` is ignored and logged).
  void Inc(std::initializer_list<std::string_view> label_values = {},
           double v = 1);
  // The current value, 0 if never incremented (for tests).
  double Value(std::initializer_list<std::string_view> label_values = {}) const;

  void AppendExposition(std::string* out) const override;

 private:
  friend class Registry;
  using Family::Family;
  std::map<std::vector<std::string>, double> values_ ABSL_GUARDED_BY(mu_);
};

// Goes up and down. Collectors (Registry::AddCollector) typically Clear() and
// Set() a gauge at each scrape, so series that are gone disappear.
class Gauge : public Family {
 public:
  void Set(std::initializer_list<std::string_view> label_values, double v);
  void Add(std::initializer_list<std::string_view> label_values, double v);
  // Drops every series.
  void Clear();
  double Value(std::initializer_list<std::string_view> label_values = {}) const;

  void AppendExposition(std::string* out) const override;

 private:
  friend class Registry;
  using Family::Family;
  std::map<std::vector<std::string>, double> values_ ABSL_GUARDED_BY(mu_);
};

// Counts observations into cumulative buckets (upper bounds, inclusive) plus
// +Inf, and keeps their sum and count.
class Histogram : public Family {
 public:
  void Observe(std::initializer_list<std::string_view> label_values, double v);
  // Observations so far, 0 if none (for tests).
  uint64_t Count(
      std::initializer_list<std::string_view> label_values = {}) const;

  void AppendExposition(std::string* out) const override;

  const std::vector<double>& buckets() const { return buckets_; }

 private:
  friend class Registry;
  Histogram(std::string name, std::string help,
            std::vector<std::string> label_names, std::vector<double> buckets);

  struct Series {
    std::vector<uint64_t> counts;  // per bucket, not cumulative; last = +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  const std::vector<double> buckets_;
  std::map<std::vector<std::string>, Series> series_ ABSL_GUARDED_BY(mu_);
};

// Buckets for durations of calls that take from a millisecond to a minute.
std::vector<double> LatencyBuckets();
// `count` buckets start, start*factor, start*factor^2, ...
std::vector<double> ExponentialBuckets(double start, double factor, int count);

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family, or returns the one already registered under `name`
  // if its type and label names match (CHECK-fails otherwise).
  Counter* AddCounter(std::string name, std::string help,
                      std::vector<std::string> label_names);
  Gauge* AddGauge(std::string name, std::string help,
                  std::vector<std::string> label_names);
  // `buckets`: upper bounds, strictly increasing, without +Inf.
  Histogram* AddHistogram(std::string name, std::string help,
                          std::vector<std::string> label_names,
                          std::vector<double> buckets);

  // Runs `before_scrape` at each Exposition(), before any family is written;
  // it should be quick and must not call Exposition(). It typically reads a
  // store and sets gauges. Collectors run one scrape at a time, in the order
  // they were added.
  void AddCollector(std::function<void()> before_scrape);

  // Every family, sorted by name, in the text format version 0.0.4.
  std::string Exposition() const;

 private:
  template <typename T, typename Make>
  T* Add(Family::Type type, const std::string& name,
         const std::vector<std::string>& label_names, Make make);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_ ABSL_GUARDED_BY(mu_);
  // Held across one scrape so two scrapes' collectors do not interleave
  // (a Clear() of one between the Set()s of another).
  mutable absl::Mutex scrape_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<std::function<void()>> collectors_ ABSL_GUARDED_BY(scrape_mu_);
};

// The process-wide registry, what cradled's metrics server serves.
Registry& Default();

}  // namespace cradle::metrics

#endif  // CRADLE_METRICS_METRICS_H_
