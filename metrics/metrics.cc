#include "metrics/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace cradle::metrics {
namespace {

bool ValidName(std::string_view name, bool colon_ok) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (colon_ok && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Shortest text that reads back as `v`; the format's spellings of the
// non-finite values.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) return absl::StrCat(v);
  return std::string(buf, end);
}

// Help text escapes backslash and newline; label values also the quote.
std::string Escape(std::string_view s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

const char* TypeName(Family::Type type) {
  switch (type) {
    case Family::Type::kCounter:
      return "counter";
    case Family::Type::kGauge:
      return "gauge";
    case Family::Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}` (plus `extra`, already formatted), or "" without labels.
std::string Labels(const std::vector<std::string>& names,
                   const std::vector<std::string>& values,
                   std::string_view extra = "") {
  std::vector<std::string> pairs;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    pairs.push_back(
        absl::StrCat(names[i], "=\"", Escape(values[i], true), "\""));
  }
  if (!extra.empty()) pairs.emplace_back(extra);
  if (pairs.empty()) return "";
  return absl::StrCat("{", absl::StrJoin(pairs, ","), "}");
}

void AppendHeader(const Family& f, std::string* out) {
  absl::StrAppend(out, "# HELP ", f.name(), " ", Escape(f.help(), false), "\n",
                  "# TYPE ", f.name(), " ", TypeName(f.type()), "\n");
}

// Families without labels show their single series even before it is
// touched, so a scraper sees 0 rather than nothing.
template <typename Map>
void EnsureUnlabelled(const Family& f, Map* series,
                      typename Map::mapped_type init) {
  if (f.label_names().empty() && series->empty()) {
    series->emplace(std::vector<std::string>{}, std::move(init));
  }
}

void AppendScalars(const Family& f,
                   std::map<std::vector<std::string>, double> values,
                   std::string* out) {
  AppendHeader(f, out);
  EnsureUnlabelled(f, &values, 0.0);
  for (const auto& [key, value] : values) {
    absl::StrAppend(out, f.name(), Labels(f.label_names(), key), " ",
                    FormatValue(value), "\n");
  }
}

}  // namespace

Family::Family(Type type, std::string name, std::string help,
               std::vector<std::string> label_names)
    : type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)) {}

bool Family::Key(std::initializer_list<std::string_view> label_values,
                 std::vector<std::string>* key) const {
  if (label_values.size() != label_names_.size()) {
    LOG_EVERY_N(ERROR, 100)
        << "metric " << name_ << " wants " << label_names_.size()
        << " label values, got " << label_values.size() << "; update dropped";
    return false;
  }
  key->assign(label_values.begin(), label_values.end());
  return true;
}

void Counter::Inc(std::initializer_list<std::string_view> label_values,
                  double v) {
  if (!(v >= 0)) {
    LOG_EVERY_N(ERROR, 100)
        << "counter " << name() << " given " << v << "; counters only go up";
    return;
  }
  std::vector<std::string> key;
  if (!Key(label_values, &key)) return;
  absl::MutexLock lock(&mu_);
  values_[std::move(key)] += v;
}

double Counter::Value(
    std::initializer_list<std::string_view> label_values) const {
  std::vector<std::string> key(label_values.begin(), label_values.end());
  absl::MutexLock lock(&mu_);
  auto it = values_.find(key);
  return it == values_.end() ? 0 : it->second;
}

void Counter::AppendExposition(std::string* out) const {
  std::map<std::vector<std::string>, double> copy;
  {
    absl::MutexLock lock(&mu_);
    copy = values_;
  }
  AppendScalars(*this, std::move(copy), out);
}

void Gauge::Set(std::initializer_list<std::string_view> label_values,
                double v) {
  std::vector<std::string> key;
  if (!Key(label_values, &key)) return;
  absl::MutexLock lock(&mu_);
  values_[std::move(key)] = v;
}

void Gauge::Add(std::initializer_list<std::string_view> label_values,
                double v) {
  std::vector<std::string> key;
  if (!Key(label_values, &key)) return;
  absl::MutexLock lock(&mu_);
  values_[std::move(key)] += v;
}

void Gauge::Clear() {
  absl::MutexLock lock(&mu_);
  values_.clear();
}

double Gauge::Value(
    std::initializer_list<std::string_view> label_values) const {
  std::vector<std::string> key(label_values.begin(), label_values.end());
  absl::MutexLock lock(&mu_);
  auto it = values_.find(key);
  return it == values_.end() ? 0 : it->second;
}

void Gauge::AppendExposition(std::string* out) const {
  std::map<std::vector<std::string>, double> copy;
  {
    absl::MutexLock lock(&mu_);
    copy = values_;
  }
  AppendScalars(*this, std::move(copy), out);
}

Histogram::Histogram(std::string name, std::string help,
                     std::vector<std::string> label_names,
                     std::vector<double> buckets)
    : Family(Type::kHistogram, std::move(name), std::move(help),
             std::move(label_names)),
      buckets_(std::move(buckets)) {}

void Histogram::Observe(std::initializer_list<std::string_view> label_values,
                        double v) {
  std::vector<std::string> key;
  if (!Key(label_values, &key)) return;
  // First bucket whose upper bound holds v; past the end is +Inf (NaN too).
  size_t bucket = 0;
  while (bucket < buckets_.size() && !(v <= buckets_[bucket])) ++bucket;
  absl::MutexLock lock(&mu_);
  Series& s = series_[std::move(key)];
  if (s.counts.empty()) s.counts.resize(buckets_.size() + 1);
  ++s.counts[bucket];
  s.sum += v;
  ++s.count;
}

uint64_t Histogram::Count(
    std::initializer_list<std::string_view> label_values) const {
  std::vector<std::string> key(label_values.begin(), label_values.end());
  absl::MutexLock lock(&mu_);
  auto it = series_.find(key);
  return it == series_.end() ? 0 : it->second.count;
}

void Histogram::AppendExposition(std::string* out) const {
  std::map<std::vector<std::string>, Series> copy;
  {
    absl::MutexLock lock(&mu_);
    copy = series_;
  }
  AppendHeader(*this, out);
  Series empty;
  empty.counts.resize(buckets_.size() + 1);
  EnsureUnlabelled(*this, &copy, empty);
  for (const auto& [key, s] : copy) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= buckets_.size(); ++i) {
      cumulative += s.counts[i];
      std::string le = i < buckets_.size() ? FormatValue(buckets_[i]) : "+Inf";
      absl::StrAppend(
          out, name(), "_bucket",
          Labels(label_names(), key, absl::StrCat("le=\"", le, "\"")), " ",
          cumulative, "\n");
    }
    std::string labels = Labels(label_names(), key);
    absl::StrAppend(out, name(), "_sum", labels, " ", FormatValue(s.sum), "\n",
                    name(), "_count", labels, " ", s.count, "\n");
  }
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double b = start;
  for (int i = 0; i < count; ++i, b *= factor) out.push_back(b);
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
          0.5,   1,      2.5,   5,    10,    30,   60};
}

template <typename T, typename Make>
T* Registry::Add(Family::Type type, const std::string& name,
                 const std::vector<std::string>& label_names, Make make) {
  CHECK(ValidName(name, /*colon_ok=*/true)) << "bad metric name " << name;
  for (const std::string& label : label_names) {
    CHECK(ValidName(label, /*colon_ok=*/false) && label.rfind("__", 0) != 0)
        << "metric " << name << ": bad label name " << label;
  }
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    CHECK(it->second->type() == type &&
          it->second->label_names() == label_names)
        << "metric " << name << " registered again with another type or labels";
    return static_cast<T*>(it->second.get());
  }
  std::unique_ptr<T> family = make();
  T* raw = family.get();
  families_.emplace(name, std::move(family));
  return raw;
}

Counter* Registry::AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names) {
  std::string key = name;
  return Add<Counter>(Family::Type::kCounter, key, label_names, [&] {
    return std::unique_ptr<Counter>(
        new Counter(Family::Type::kCounter, std::move(name), std::move(help),
                    std::move(label_names)));
  });
}

Gauge* Registry::AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names) {
  std::string key = name;
  return Add<Gauge>(Family::Type::kGauge, key, label_names, [&] {
    return std::unique_ptr<Gauge>(new Gauge(Family::Type::kGauge,
                                            std::move(name), std::move(help),
                                            std::move(label_names)));
  });
}

Histogram* Registry::AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> buckets) {
  for (size_t i = 0; i < buckets.size(); ++i) {
    CHECK(std::isfinite(buckets[i]) && (i == 0 || buckets[i - 1] < buckets[i]))
        << "histogram " << name << ": buckets must be finite and increasing";
  }
  for (const std::string& label : label_names) {
    CHECK(label != "le") << "histogram " << name << " may not have label le";
  }
  std::string key = name;
  Histogram* h =
      Add<Histogram>(Family::Type::kHistogram, key, label_names, [&] {
        return std::unique_ptr<Histogram>(new Histogram(
            std::move(name), std::move(help), std::move(label_names), buckets));
      });
  CHECK(h->buckets() == buckets)
      << "histogram " << key << " registered again with other buckets";
  return h;
}

void Registry::AddCollector(std::function<void()> before_scrape) {
  absl::MutexLock lock(&scrape_mu_);
  collectors_.push_back(std::move(before_scrape));
}

std::string Registry::Exposition() const {
  absl::MutexLock scrape(&scrape_mu_);
  for (const auto& collect : collectors_) collect();
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, family] : families_) family->AppendExposition(&out);
  return out;
}

Registry& Default() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace cradle::metrics
