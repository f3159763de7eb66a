#include "cdi/spec.h"

#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cdi/yaml_json.h"
#include "nlohmann/json.hpp"
#include "runc_driver/spec/spec.h"

namespace cradle::cdi {
namespace {

using nlohmann::json;

const std::set<std::string>& Versions() {
  static const auto* versions = new std::set<std::string>{
      "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0"};
  return *versions;
}

absl::Status Invalid(absl::string_view path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

// Reads the fields of one JSON object and remembers the first bad one.
// Keys it is not asked for are ignored, so a newer spec's additions do not
// make the whole file unusable.
class Fields {
 public:
  Fields(const json& object, std::string path)
      : object_(object), path_(std::move(path)) {}

  std::string Path(absl::string_view key) const {
    return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
  }

  // The value of `key`; nullptr when it is absent or null.
  const json* Get(const char* key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  void String(const char* key, std::string* out, bool required = false) {
    if (!status_.ok()) return;
    const json* v = Get(key);
    if (v == nullptr) {
      if (required) status_ = Invalid(Path(key), "missing");
    } else if (v->is_string()) {
      *out = v->get_ref<const std::string&>();
    } else if (v->is_number_integer()) {
      // An unquoted YAML value such as `name: 0`.
      *out = v->dump();
    } else {
      status_ = Invalid(Path(key), "want a string");
    }
    if (status_.ok() && required && out->empty())
      status_ = Invalid(Path(key), "is empty");
  }

  void Strings(const char* key, std::vector<std::string>* out) {
    if (!status_.ok()) return;
    const json* v = Get(key);
    if (v == nullptr) return;
    if (!v->is_array()) {
      status_ = Invalid(Path(key), "want an array of strings");
      return;
    }
    for (size_t i = 0; i < v->size(); ++i) {
      const json& item = (*v)[i];
      if (!item.is_string()) {
        status_ =
            Invalid(absl::StrCat(Path(key), "[", i, "]"), "want a string");
        return;
      }
      out->push_back(item.get_ref<const std::string&>());
    }
  }

  template <typename T>
  void Int(const char* key, std::optional<T>* out, int64_t min = 0,
           int64_t max = std::numeric_limits<T>::max()) {
    if (!status_.ok()) return;
    if (const json* v = Get(key)) {
      absl::StatusOr<int64_t> n = IntValue(*v, Path(key), min, max);
      if (n.ok()) {
        *out = static_cast<T>(*n);
      } else {
        status_ = n.status();
      }
    }
  }

  static absl::StatusOr<int64_t> IntValue(const json& v, absl::string_view path,
                                          int64_t min, int64_t max) {
    int64_t n = 0;
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(max)) return OutOfRange(path, min, max);
      n = static_cast<int64_t>(u);
    } else if (v.is_number_integer()) {
      n = v.get<int64_t>();
    } else {
      return Invalid(path, "want an integer");
    }
    if (n < min || n > max) return OutOfRange(path, min, max);
    return n;
  }

  // The array under `key` (empty when absent), or an error.
  const json* Array(const char* key) {
    if (!status_.ok()) return nullptr;
    const json* v = Get(key);
    if (v != nullptr && !v->is_array()) {
      status_ = Invalid(Path(key), "want an array");
      return nullptr;
    }
    return v;
  }

  void Fail(absl::Status s) {
    if (status_.ok()) status_ = std::move(s);
  }
  const absl::Status& status() const { return status_; }

 private:
  static absl::Status OutOfRange(absl::string_view path, int64_t min,
                                 int64_t max) {
    return Invalid(path,
                   absl::StrCat("want an integer in [", min, ", ", max, "]"));
  }

  const json& object_;
  std::string path_;
  absl::Status status_;
};

absl::Status CheckEnv(const std::vector<std::string>& env,
                      absl::string_view path) {
  for (size_t i = 0; i < env.size(); ++i) {
    size_t eq = env[i].find('=');
    if (eq == std::string::npos || eq == 0) {
      return Invalid(absl::StrCat(path, "[", i, "]"),
                     absl::StrCat("\"", env[i], "\" is not KEY=value"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DeviceNode> ParseDeviceNode(const json& v,
                                           const std::string& path) {
  if (!v.is_object()) return Invalid(path, "want an object");
  DeviceNode d;
  Fields f(v, path);
  f.String("path", &d.path, /*required=*/true);
  f.String("hostPath", &d.host_path);
  f.String("type", &d.type);
  f.Int("major", &d.major);
  f.Int("minor", &d.minor);
  f.Int("fileMode", &d.file_mode);
  f.String("permissions", &d.permissions);
  f.Int("uid", &d.uid);
  f.Int("gid", &d.gid);
  if (!f.status().ok()) return f.status();
  if (d.type != "" && d.type != "c" && d.type != "u" && d.type != "b" &&
      d.type != "p") {
    return Invalid(f.Path("type"),
                   absl::StrCat("\"", d.type, "\" is not one of b, c, u, p"));
  }
  for (char c : d.permissions) {
    if (c != 'r' && c != 'w' && c != 'm') {
      return Invalid(
          f.Path("permissions"),
          absl::StrCat("\"", d.permissions, "\" may only hold r, w and m"));
    }
  }
  return d;
}

absl::StatusOr<Mount> ParseMount(const json& v, const std::string& path) {
  if (!v.is_object()) return Invalid(path, "want an object");
  Mount m;
  Fields f(v, path);
  f.String("hostPath", &m.host_path, /*required=*/true);
  f.String("containerPath", &m.container_path, /*required=*/true);
  f.Strings("options", &m.options);
  f.String("type", &m.type);
  if (!f.status().ok()) return f.status();
  return m;
}

absl::StatusOr<Hook> ParseHook(const json& v, const std::string& path) {
  if (!v.is_object()) return Invalid(path, "want an object");
  Hook h;
  Fields f(v, path);
  f.String("hookName", &h.hook_name, /*required=*/true);
  f.String("path", &h.path, /*required=*/true);
  f.Strings("args", &h.args);
  f.Strings("env", &h.env);
  f.Int("timeout", &h.timeout, 1);
  if (!f.status().ok()) return f.status();
  if (spec::HookPoints().count(h.hook_name) == 0) {
    return Invalid(f.Path("hookName"),
                   absl::StrCat("\"", h.hook_name, "\" is not one of ",
                                absl::StrJoin(spec::HookPoints(), ", ")));
  }
  if (h.path[0] != '/') {
    return Invalid(f.Path("path"),
                   absl::StrCat("\"", h.path, "\" is not absolute"));
  }
  return h;
}

// Parses each element of the array `key` with `parse` into `out`.
template <typename T, typename Parse>
void ParseList(Fields& f, const char* key, Parse parse, std::vector<T>* out) {
  const json* list = f.Array(key);
  if (list == nullptr) return;
  for (size_t i = 0; i < list->size() && f.status().ok(); ++i) {
    absl::StatusOr<T> item =
        parse((*list)[i], absl::StrCat(f.Path(key), "[", i, "]"));
    if (item.ok()) {
      out->push_back(*std::move(item));
    } else {
      f.Fail(item.status());
    }
  }
}

absl::StatusOr<ContainerEdits> ParseEdits(const json* v,
                                          const std::string& path) {
  ContainerEdits e;
  if (v == nullptr) return e;
  if (!v->is_object()) return Invalid(path, "want an object");
  Fields f(*v, path);
  f.Strings("env", &e.env);
  if (f.status().ok()) f.Fail(CheckEnv(e.env, f.Path("env")));
  ParseList(f, "deviceNodes", ParseDeviceNode, &e.device_nodes);
  ParseList(f, "mounts", ParseMount, &e.mounts);
  ParseList(f, "hooks", ParseHook, &e.hooks);
  for (size_t i = 0; i < e.hooks.size() && f.status().ok(); ++i) {
    f.Fail(CheckEnv(e.hooks[i].env,
                    absl::StrCat(f.Path("hooks"), "[", i, "].env")));
  }
  // The reference library spells it additionalGids; take the other casing
  // too rather than drop a vendor's groups.
  for (const char* key : {"additionalGids", "additionalGIDs"}) {
    const json* gids = f.Array(key);
    for (size_t i = 0; gids != nullptr && i < gids->size(); ++i) {
      absl::StatusOr<int64_t> gid =
          Fields::IntValue((*gids)[i], absl::StrCat(f.Path(key), "[", i, "]"),
                           0, std::numeric_limits<uint32_t>::max());
      if (!gid.ok()) {
        f.Fail(gid.status());
        break;
      }
      e.additional_gids.push_back(static_cast<uint32_t>(*gid));
    }
  }
  e.has_intel_rdt = f.Get("intelRdt") != nullptr;
  const json* net = f.Get("netDevices");
  e.has_net_devices = net != nullptr && !net->empty();
  if (!f.status().ok()) return f.status();
  return e;
}

bool Empty(const ContainerEdits& e) {
  return e.env.empty() && e.device_nodes.empty() && e.mounts.empty() &&
         e.hooks.empty() && e.additional_gids.empty() && !e.has_intel_rdt &&
         !e.has_net_devices;
}

absl::Status ValidateKind(absl::string_view kind) {
  size_t slash = kind.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", kind, "\" is not vendor.com/class"));
  }
  if (absl::Status s = ValidateVendor(kind.substr(0, slash)); !s.ok()) return s;
  return ValidateClass(kind.substr(slash + 1));
}

absl::StatusOr<Spec> ParseSpecJson(const json& root) {
  if (!root.is_object()) return Invalid("spec", "want an object");
  Spec spec;
  Fields f(root, "");
  f.String("cdiVersion", &spec.version, /*required=*/true);
  f.String("kind", &spec.kind, /*required=*/true);
  if (!f.status().ok()) return f.status();
  if (Versions().count(spec.version) == 0) {
    return Invalid("cdiVersion",
                   absl::StrCat("\"", spec.version, "\" is not one of ",
                                absl::StrJoin(Versions(), ", ")));
  }
  if (absl::Status s = ValidateKind(spec.kind); !s.ok())
    return Invalid("kind", s.message());
  absl::StatusOr<ContainerEdits> edits =
      ParseEdits(f.Get("containerEdits"), "containerEdits");
  if (!edits.ok()) return edits.status();
  spec.edits = *std::move(edits);

  const json* devices = f.Array("devices");
  if (!f.status().ok()) return f.status();
  if (devices == nullptr || devices->empty())
    return Invalid("devices", "a spec must define at least one device");
  std::set<std::string> names;
  for (size_t i = 0; i < devices->size(); ++i) {
    std::string path = absl::StrCat("devices[", i, "]");
    const json& d = (*devices)[i];
    if (!d.is_object()) return Invalid(path, "want an object");
    Device device;
    Fields df(d, path);
    df.String("name", &device.name, /*required=*/true);
    if (!df.status().ok()) return df.status();
    if (absl::Status s = ValidateDeviceName(device.name); !s.ok())
      return Invalid(df.Path("name"), s.message());
    if (!names.insert(device.name).second) {
      return Invalid(df.Path("name"),
                     absl::StrCat("device \"", device.name,
                                  "\" is defined twice in this spec"));
    }
    absl::StatusOr<ContainerEdits> e =
        ParseEdits(df.Get("containerEdits"), df.Path("containerEdits"));
    if (!e.ok()) return e.status();
    if (Empty(*e)) {
      return Invalid(df.Path("containerEdits"),
                     "a device must have at least one edit");
    }
    device.edits = *std::move(e);
    spec.devices.push_back(std::move(device));
  }
  return spec;
}

}  // namespace

absl::StatusOr<Spec> ParseSpec(absl::string_view text, Format format) {
  // Nothing from the file may escape as an exception: the daemon serves
  // every pod from the thread that reads it.
  try {
    json root;
    if (format == Format::kYaml) {
      absl::StatusOr<json> converted = YamlToJson(text);
      if (!converted.ok()) return converted.status();
      root = *std::move(converted);
    } else {
      root = json::parse(text.begin(), text.end(), nullptr,
                         /*allow_exceptions=*/false);
      if (root.is_discarded())
        return absl::InvalidArgumentError("not valid JSON");
    }
    return ParseSpecJson(root);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("unreadable: ", e.what()));
  }
}

}  // namespace cradle::cdi
