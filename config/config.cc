#include "config/config.h"

#include <toml++/toml.h>

#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "metrics/address.h"
#include "nlohmann/json.hpp"

namespace cradle {

// Generated from default_config.toml by the BUILD file.
extern const char kDefaultConfigToml[];

namespace {

std::string Where(absl::string_view source, const toml::node& node) {
  const toml::source_region& region = node.source();
  return absl::StrCat(source, ":", region.begin.line, ":", region.begin.column);
}

// Walks one TOML table, handing each known key to its setter and reporting
// the first unknown key or badly typed value with its position.
class TableReader {
 public:
  TableReader(absl::string_view source, std::string prefix,
              const toml::table& table)
      : source_(source), prefix_(std::move(prefix)), table_(table) {}

  void String(const char* key, std::string* out,
              std::function<absl::Status(const std::string&)> check = nullptr) {
    Field(key, [&](const toml::node& node) -> absl::Status {
      const std::string* value =
          node.as_string() ? &node.as_string()->get() : nullptr;
      if (value == nullptr) return TypeError(node, key, "a string");
      if (check) {
        if (absl::Status s = check(*value); !s.ok())
          return Bad(node, key, s.message());
      }
      *out = *value;
      return absl::OkStatus();
    });
  }

  void Int(const char* key, int64_t* out, int64_t min, int64_t max) {
    Field(key, [&](const toml::node& node) -> absl::Status {
      if (!node.is_integer()) return TypeError(node, key, "an integer");
      int64_t value = node.as_integer()->get();
      if (value < min || value > max) {
        return Bad(node, key,
                   absl::StrCat("want a value in [", min, ", ", max, "], got ",
                                value));
      }
      *out = value;
      return absl::OkStatus();
    });
  }

  // A duration as Go and containerd write it ("5m", "1m30s", "0").
  void Duration(const char* key, absl::Duration* out) {
    Field(key, [&](const toml::node& node) -> absl::Status {
      const std::string* text =
          node.as_string() ? &node.as_string()->get() : nullptr;
      if (text == nullptr) return TypeError(node, key, "a duration string");
      absl::Duration value;
      if (!absl::ParseDuration(*text, &value) || value < absl::ZeroDuration() ||
          value == absl::InfiniteDuration()) {
        return Bad(node, key,
                   absl::StrCat("want a duration such as \"5m\" or \"90s\" "
                                "(\"0\" turns it off), got \"",
                                *text, "\""));
      }
      *out = value;
      return absl::OkStatus();
    });
  }

  // A name, or a list of names: a list says "the first that works".
  void StringOrStrings(const char* key, std::vector<std::string>* out) {
    Field(key, [&](const toml::node& node) -> absl::Status {
      if (node.is_string()) {
        *out = {node.as_string()->get()};
        return absl::OkStatus();
      }
      absl::StatusOr<std::vector<std::string>> list = StringList(node, key);
      if (!list.ok()) return TypeError(node, key, "a name or a list of names");
      if (list->empty()) return Bad(node, key, "want at least one name");
      *out = *std::move(list);
      return absl::OkStatus();
    });
  }

  void Bool(const char* key, bool* out) {
    Field(key, [&](const toml::node& node) -> absl::Status {
      if (!node.is_boolean()) return TypeError(node, key, "true or false");
      *out = node.as_boolean()->get();
      return absl::OkStatus();
    });
  }

  void Strings(
      const char* key, std::vector<std::string>* out,
      std::function<absl::Status(const std::string&)> check = nullptr) {
    Field(key, [&](const toml::node& node) -> absl::Status {
      absl::StatusOr<std::vector<std::string>> list = StringList(node, key);
      if (!list.ok()) return list.status();
      for (const std::string& item : *list) {
        if (!check) break;
        if (absl::Status s = check(item); !s.ok())
          return Bad(node, key, s.message());
      }
      *out = *std::move(list);
      return absl::OkStatus();
    });
  }

  // A sub-table with fixed keys.
  void Table(const char* key, const std::function<void(TableReader&)>& read) {
    Field(key, [&](const toml::node& node) -> absl::Status {
      if (!node.is_table()) return TypeError(node, key, "a table");
      TableReader sub(source_, Name(key), *node.as_table());
      read(sub);
      return sub.Finish();
    });
  }

  // A sub-table whose keys are free-form names, each mapping to a string list.
  void StringListMap(const char* key,
                     std::map<std::string, std::vector<std::string>>* out) {
    Field(key, [&](const toml::node& node) -> absl::Status {
      if (!node.is_table()) return TypeError(node, key, "a table");
      for (const auto& [name, value] : *node.as_table()) {
        std::string full =
            absl::StrCat(key, ".\"", std::string(name.str()), "\"");
        absl::StatusOr<std::vector<std::string>> list = StringList(value, full);
        if (!list.ok()) return list.status();
        (*out)[std::string(name.str())] = *std::move(list);
      }
      return absl::OkStatus();
    });
  }

  // A sub-table whose keys are free-form names, each a table with fixed
  // keys; `read` gets the name and a reader of its table.
  void TableMap(
      const char* key,
      const std::function<void(const std::string& name, TableReader&)>& read) {
    Field(key, [&](const toml::node& node) -> absl::Status {
      if (!node.is_table()) return TypeError(node, key, "a table");
      for (const auto& [name, value] : *node.as_table()) {
        std::string full =
            absl::StrCat(Name(key), ".", std::string(name.str()));
        if (!value.is_table()) return TypeError(value, full, "a table");
        TableReader sub(source_, full, *value.as_table());
        read(std::string(name.str()), sub);
        if (absl::Status s = sub.Finish(); !s.ok()) return s;
      }
      return absl::OkStatus();
    });
  }

  // Reports the first error seen, else the first key nobody asked for.
  absl::Status Finish() {
    if (!status_.ok()) return status_;
    for (const auto& [key, node] : table_) {
      if (seen_.count(std::string(key.str())) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(source_, node), ": unknown key \"",
                         Name(std::string(key.str())), "\""));
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string Name(absl::string_view key) const {
    return prefix_.empty() ? std::string(key) : absl::StrCat(prefix_, ".", key);
  }

  void Field(const char* key,
             const std::function<absl::Status(const toml::node&)>& set) {
    seen_.insert(key);
    if (!status_.ok()) return;
    if (const toml::node* node = table_.get(key)) status_ = set(*node);
  }

  absl::StatusOr<std::vector<std::string>> StringList(const toml::node& node,
                                                      absl::string_view key) {
    if (!node.is_array()) return TypeError(node, key, "an array of strings");
    std::vector<std::string> list;
    for (const toml::node& item : *node.as_array()) {
      if (!item.is_string()) return TypeError(item, key, "an array of strings");
      list.push_back(item.as_string()->get());
    }
    return list;
  }

  absl::Status TypeError(const toml::node& node, absl::string_view key,
                         absl::string_view want) {
    return Bad(node, key, absl::StrCat("want ", want));
  }

  absl::Status Bad(const toml::node& node, absl::string_view key,
                   absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source_, node), ": key \"", Name(key), "\": ", why));
  }

  absl::string_view source_;
  std::string prefix_;
  const toml::table& table_;
  std::set<std::string> seen_;
  absl::Status status_;
};

std::function<absl::Status(const std::string&)> OneOf(
    std::vector<std::string> allowed) {
  return [allowed = std::move(allowed)](const std::string& value) {
    for (const std::string& a : allowed) {
      if (value == a) return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "want one of ", absl::StrJoin(allowed, ", "), "; got \"", value, "\""));
  };
}

absl::Status AbsolutePath(const std::string& value) {
  if (value.empty() || value[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("want an absolute path, got \"", value, "\""));
  }
  return absl::OkStatus();
}

absl::Status SocketPath(const std::string& value) {
  if (absl::Status s = AbsolutePath(value); !s.ok()) return s;
  // sun_path holds 108 bytes with the NUL, and the daemon first listens on
  // "<address>.tmp" (see cri/server/socket.h).
  if (value.size() > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("a unix socket path is at most 100 bytes, this one has ",
                     value.size()));
  }
  return absl::OkStatus();
}

absl::Status OptionalPath(const std::string& value) {
  return value.empty() ? absl::OkStatus() : AbsolutePath(value);
}

// Handler names are RuntimeClass handlers (DNS labels) and, by default,
// directory names under the state dir, beside the daemon's own.
absl::Status HandlerName(const std::string& name) {
  static const std::set<std::string> kTaken = {"pods", "s", "runc-logs"};
  bool label = !name.empty() && name.size() <= 63 && name.front() != '-' &&
               name.back() != '-';
  for (char ch : name) {
    label = label &&
            ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-');
  }
  if (!label) {
    return absl::InvalidArgumentError(absl::StrCat(
        "handler name \"", name,
        "\" is not a DNS label (lower-case letters, digits and '-', at "
        "most 63)"));
  }
  if (kTaken.count(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("handler name \"", name,
                     "\" is taken by the state dir's own \"", name, "\""));
  }
  return absl::OkStatus();
}

// What only the whole (merged) config can tell.
absl::Status CheckHandlers(const Config::Runtime& r, absl::string_view source) {
  for (const auto& [name, handler] : r.handlers) {
    absl::Status s = HandlerName(name);
    if (s.ok() && handler.binary.empty()) {
      s = absl::InvalidArgumentError("binary is empty");
    }
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": runtime.handlers.", name, ": ", s.message()));
    }
  }
  // Two runtimes on one root would read each other's state.
  std::map<std::string, std::string> roots;
  for (const auto& [name, handler] : r.handlers) {
    if (handler.root.empty()) continue;
    auto [it, fresh] = roots.emplace(handler.root, name);
    if (!fresh) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": runtime.handlers.", name, ": root ", handler.root,
          " is also runtime.handlers.", it->second, "'s"));
    }
  }
  for (const std::string& wanted : r.default_handler) {
    if (r.handlers.count(wanted) != 0) continue;
    std::vector<std::string> names;
    for (const auto& [name, handler] : r.handlers) names.push_back(name);
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": runtime.default_handler \"", wanted,
        "\" is not among runtime.handlers (", absl::StrJoin(names, ", "), ")"));
  }
  return absl::OkStatus();
}

void ReadConfig(TableReader& top, Config& c) {
  int64_t version = 1;
  top.Int("version", &version, 1, 1);
  top.String("root", &c.root, AbsolutePath);
  top.String("state", &c.state, AbsolutePath);
  top.String("log_level", &c.log_level,
             OneOf({"debug", "info", "warning", "error"}));
  top.Table("grpc", [&](TableReader& t) {
    t.String("address", &c.grpc.address, SocketPath);
    t.Int("gid", &c.grpc.gid, 0, UINT32_MAX - 1);
    t.Int("max_recv_message_size", &c.grpc.max_recv_message_size, 4096,
          INT32_MAX);
    t.Int("max_send_message_size", &c.grpc.max_send_message_size, 4096,
          INT32_MAX);
  });
  top.Table("runtime", [&](TableReader& t) {
    t.StringOrStrings("default_handler", &c.runtime.default_handler);
    t.TableMap("handlers", [&](const std::string& name, TableReader& h) {
      Config::Runtime::Handler& handler = c.runtime.handlers[name];
      h.String("binary", &handler.binary);
      h.String("root", &handler.root, OptionalPath);
    });
    t.String("shim", &c.runtime.shim, OptionalPath);
    t.String("cgroup_driver", &c.runtime.cgroup_driver,
             OneOf({"cgroupfs", "systemd"}));
    t.String("sandbox_image", &c.runtime.sandbox_image);
    t.Strings("cdi_spec_dirs", &c.runtime.cdi_spec_dirs, AbsolutePath);
  });
  top.Table("images", [&](TableReader& t) {
    t.String("snapshotter", &c.images.snapshotter,
             OneOf({"overlayfs", "native"}));
    t.Int("max_concurrent_downloads", &c.images.max_concurrent_downloads, 1,
          64);
    t.Int("unpack_max_ratio", &c.images.unpack_max_ratio, 0, 1000000);
    t.Int("unpack_ratio_floor_mib", &c.images.unpack_ratio_floor_mib, 0,
          int64_t{1} << 30);
    t.Int("unpack_min_free_mib", &c.images.unpack_min_free_mib, 0,
          int64_t{1} << 30);
    t.Int("unpack_max_entries", &c.images.unpack_max_entries, 0,
          int64_t{1} << 40);
    t.Int("max_layers", &c.images.max_layers, 0, 4096);
    t.Duration("image_pull_progress_timeout",
               &c.images.image_pull_progress_timeout);
  });
  top.Table("cni", [&](TableReader& t) {
    t.Strings("bin_dirs", &c.cni.bin_dirs);
    t.String("conf_dir", &c.cni.conf_dir, AbsolutePath);
  });
  top.Table("streaming", [&](TableReader& t) {
    t.String("address", &c.streaming.address);
    t.Int("port", &c.streaming.port, 0, 65535);
    t.Bool("tls", &c.streaming.tls);
  });
  top.Table("metrics", [&](TableReader& t) {
    t.String("address", &c.metrics.address, [](const std::string& a) {
      return a.empty() ? absl::OkStatus()
                       : metrics::ParseListenAddress(a).status();
    });
  });
  top.Table("registry", [&](TableReader& t) {
    t.Strings("plain_http", &c.registry.plain_http);
    t.Strings("insecure_skip_verify", &c.registry.insecure_skip_verify);
    t.Strings("mirror_credentials", &c.registry.mirror_credentials);
    t.StringListMap("mirrors", &c.registry.mirrors);
  });
}

}  // namespace

absl::string_view DefaultConfigText() { return kDefaultConfigToml; }

Config DefaultConfig() {
  absl::StatusOr<Config> config =
      ParseConfig(DefaultConfigText(), "<embedded default>", Config());
  CHECK(config.ok()) << "the embedded default config is broken: "
                     << config.status();
  return *std::move(config);
}

absl::StatusOr<Config> ParseConfig(absl::string_view text,
                                   absl::string_view source,
                                   const Config& base) {
  toml::table table;
  try {
    table = toml::parse(std::string_view(text.data(), text.size()),
                        std::string_view(source.data(), source.size()));
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ":", e.source().begin.line, ":", e.source().begin.column, ": ",
        std::string(e.description())));
  }
  Config config = base;
  TableReader top(source, "", table);
  ReadConfig(top, config);
  if (absl::Status s = top.Finish(); !s.ok()) return s;
  if (absl::Status s = CheckHandlers(config.runtime, source); !s.ok()) return s;
  return config;
}

absl::StatusOr<Config> LoadConfig(absl::string_view path) {
  bool explicit_path = !path.empty();
  std::string file = explicit_path ? std::string(path) : kDefaultConfigPath;
  std::ifstream in(file);
  if (!in) {
    if (explicit_path) {
      return absl::NotFoundError(
          absl::StrCat("config file ", file, " cannot be read"));
    }
    LOG(INFO) << "no config file at " << file << "; using the embedded default";
    return DefaultConfig();
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), file, DefaultConfig());
}

namespace {

nlohmann::json RuntimeHandlersJson(
    const std::map<std::string, Config::Runtime::Handler>& handlers) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, h] : handlers) {
    j[name] = {{"binary", h.binary}, {"root", h.root}};
  }
  return j;
}

}  // namespace

std::string ConfigToJson(const Config& c) {
  nlohmann::json j = {
      {"root", c.root},
      {"state", c.state},
      {"log_level", c.log_level},
      {"grpc",
       {{"address", c.grpc.address},
        {"gid", c.grpc.gid},
        {"max_recv_message_size", c.grpc.max_recv_message_size},
        {"max_send_message_size", c.grpc.max_send_message_size}}},
      {"runtime",
       {{"default_handler", c.runtime.default_handler.size() == 1
                                ? nlohmann::json(c.runtime.default_handler[0])
                                : nlohmann::json(c.runtime.default_handler)},
        {"handlers", RuntimeHandlersJson(c.runtime.handlers)},
        {"shim", c.runtime.shim},
        {"cgroup_driver", c.runtime.cgroup_driver},
        {"sandbox_image", c.runtime.sandbox_image},
        {"cdi_spec_dirs", c.runtime.cdi_spec_dirs}}},
      {"images",
       {{"snapshotter", c.images.snapshotter},
        {"max_concurrent_downloads", c.images.max_concurrent_downloads},
        {"unpack_max_ratio", c.images.unpack_max_ratio},
        {"unpack_ratio_floor_mib", c.images.unpack_ratio_floor_mib},
        {"unpack_min_free_mib", c.images.unpack_min_free_mib},
        {"unpack_max_entries", c.images.unpack_max_entries},
        {"max_layers", c.images.max_layers},
        {"image_pull_progress_timeout",
         absl::FormatDuration(c.images.image_pull_progress_timeout)}}},
      {"cni", {{"bin_dirs", c.cni.bin_dirs}, {"conf_dir", c.cni.conf_dir}}},
      {"streaming",
       {{"address", c.streaming.address},
        {"port", c.streaming.port},
        {"tls", c.streaming.tls}}},
      {"metrics", {{"address", c.metrics.address}}},
      {"registry",
       {{"plain_http", c.registry.plain_http},
        {"insecure_skip_verify", c.registry.insecure_skip_verify},
        {"mirror_credentials", c.registry.mirror_credentials},
        {"mirrors", c.registry.mirrors}}},
  };
  return j.dump(2);
}

}  // namespace cradle
