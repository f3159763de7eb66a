#include "network/cni.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "lite/files.h"
#include "namespaces/pinned.h"
#include "nlohmann/json.hpp"
#include "process/process.h"

namespace cradle {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr absl::Duration kPluginTimeout = absl::Minutes(1);

// CNI_ARGS is "K=V;K=V": a value with ';' or '=' would add or break pairs
// (cradled's CRI entry refuses these already; this guards other callers).
absl::Status CheckCniArgs(const PodNetworkRequest& r) {
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{
                                       "K8S_POD_NAMESPACE", r.pod_namespace},
                                   {"K8S_POD_NAME", r.pod_name},
                                   {"K8S_POD_INFRA_CONTAINER_ID", r.pod_id},
                                   {"K8S_POD_UID", r.pod_uid}}) {
    for (char c : value) {
      if (c == ';' || c == '=' || static_cast<unsigned char>(c) < 0x20 ||
          c == 0x7f) {
        return absl::InvalidArgumentError(absl::StrCat(
            "pod ", key, " \"", absl::CHexEscape(value),
            "\" must not contain ';', '=' or control characters: it is "
            "passed to CNI plugins in CNI_ARGS"));
      }
    }
  }
  return absl::OkStatus();
}

// A network list: the config handed to each plugin comes from here.
struct NetworkList {
  std::string name;
  std::string cni_version;
  std::vector<json> plugins;
  std::string source;  // file it came from
};

absl::StatusOr<NetworkList> ParseNetworkList(const std::string& text,
                                             const std::string& source) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a JSON object"));
  }
  NetworkList list;
  list.source = source;
  list.name = doc.value("name", "");
  list.cni_version = doc.value("cniVersion", "");
  if (doc.contains("plugins")) {
    if (!doc["plugins"].is_array() || doc["plugins"].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": \"plugins\" must be a list"));
    }
    for (const json& p : doc["plugins"]) list.plugins.push_back(p);
  } else {
    list.plugins.push_back(doc);  // a single-plugin .conf
  }
  for (const json& p : list.plugins) {
    if (!p.is_object() || !p.contains("type") || !p["type"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": a plugin has no \"type\""));
    }
  }
  if (list.name.empty() || list.cni_version.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": \"name\" and \"cniVersion\" are required"));
  }
  return list;
}

bool VersionAtLeast(const std::string& version, int major, int minor) {
  int a = 0, b = 0;
  if (sscanf(version.c_str(), "%d.%d", &a, &b) < 1) return false;
  return a > major || (a == major && b >= minor);
}

// IPs from a result of any spec version (0.1/0.2 "ip4"/"ip6", 0.3+ "ips").
std::vector<std::string> ResultIps(const json& result) {
  std::vector<std::string> ips;
  auto add = [&](const json& address) {
    if (!address.is_string()) return;
    std::string a = address.get<std::string>();
    ips.push_back(a.substr(0, a.find('/')));
  };
  if (result.contains("ips") && result["ips"].is_array()) {
    for (const json& ip : result["ips"]) {
      if (ip.is_object() && ip.contains("address")) add(ip["address"]);
    }
  }
  for (const char* key : {"ip4", "ip6"}) {
    if (result.contains(key) && result[key].is_object() &&
        result[key].contains("ip")) {
      add(result[key]["ip"]);
    }
  }
  // IPv4 first: the CRI's primary pod IP.
  std::stable_partition(ips.begin(), ips.end(), [](const std::string& ip) {
    return ip.find(':') == std::string::npos;
  });
  return ips;
}

// The capability arguments of a request, as cached with its ADD.
json CapabilityArgsToJson(const PodNetworkRequest& request) {
  json mappings = json::array();
  for (const PortMapping& m : request.port_mappings) {
    mappings.push_back({{"hostPort", m.host_port},
                        {"containerPort", m.container_port},
                        {"protocol", m.protocol},
                        {"hostIP", m.host_ip}});
  }
  json out = {{"portMappings", mappings}};
  if (request.bandwidth) {
    out["bandwidth"] = {{"ingressRate", request.bandwidth->ingress_rate},
                        {"ingressBurst", request.bandwidth->ingress_burst},
                        {"egressRate", request.bandwidth->egress_rate},
                        {"egressBurst", request.bandwidth->egress_burst}};
  }
  return out;
}

// Fills what the request leaves out from the cached ADD's arguments.
void CapabilityArgsFromJson(const json& cached, PodNetworkRequest* request) {
  if (!cached.is_object()) return;
  if (request->port_mappings.empty()) {
    for (const json& m : cached.value("portMappings", json::array())) {
      if (!m.is_object()) continue;
      PortMapping p;
      p.host_port = m.value("hostPort", 0);
      p.container_port = m.value("containerPort", 0);
      p.protocol = m.value("protocol", "tcp");
      p.host_ip = m.value("hostIP", "");
      request->port_mappings.push_back(p);
    }
  }
  if (!request->bandwidth && cached.contains("bandwidth")) {
    const json& b = cached["bandwidth"];
    request->bandwidth = Bandwidth{
        b.value("ingressRate", int64_t{0}), b.value("ingressBurst", int64_t{0}),
        b.value("egressRate", int64_t{0}), b.value("egressBurst", int64_t{0})};
  }
}

class CniNetwork : public PodNetwork {
 public:
  explicit CniNetwork(CniOptions options) : options_(std::move(options)) {}

  absl::Status Ready() override {
    absl::StatusOr<NetworkList> list = LoadConfig();
    if (!list.ok()) return list.status();
    for (const json& plugin : list->plugins) {
      absl::StatusOr<std::string> binary =
          FindPlugin(plugin["type"].get<std::string>());
      if (!binary.ok()) return binary.status();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<PodNetworkResult> Setup(
      const PodNetworkRequest& request) override {
    absl::StatusOr<NetworkList> list = LoadConfig();
    if (!list.ok()) return list.status();
    if (absl::Status s = LoopbackUp(request); !s.ok()) return s;
    json prev;
    for (const json& plugin : list->plugins) {
      absl::StatusOr<json> result = Invoke("ADD", *list, plugin, request, prev);
      if (!result.ok()) {
        LOG(WARNING) << "pod=" << request.pod_id << " network " << list->name
                     << " ADD failed, undoing: " << result.status().message();
        (void)RunDel(*list, request, prev);
        return result.status();
      }
      prev = *std::move(result);
    }
    // Cache before answering: a later DEL (maybe by a restarted daemon)
    // needs the exact config and result of this ADD.
    json cache = {{"config", ListToJson(*list)},
                  {"result", prev},
                  {"request", CapabilityArgsToJson(request)}};
    if (absl::Status s = WriteCache(request, cache.dump()); !s.ok()) {
      (void)RunDel(*list, request, prev);
      return s;
    }
    PodNetworkResult out;
    out.ips = ResultIps(prev);
    out.result_json = prev.dump();
    LOG(INFO) << "pod=" << request.pod_id << " network " << list->name
              << " attached: " << absl::StrJoin(out.ips, ",");
    return out;
  }

  absl::Status Teardown(const PodNetworkRequest& pod) override {
    NetworkList list;
    json prev;
    // DEL gets the port mappings and bandwidth of the ADD: plugins such as
    // portmap undo only what they are told about.
    PodNetworkRequest request = pod;
    std::string cached = ReadCache(request);
    if (!cached.empty()) {
      json cache = json::parse(cached, nullptr, false);
      if (cache.is_object() && cache.contains("config")) {
        absl::StatusOr<NetworkList> l =
            ParseNetworkList(cache["config"].dump(), CachePath(request));
        if (l.ok()) list = *l;
        prev = cache.value("result", json());
        CapabilityArgsFromJson(cache.value("request", json()), &request);
      }
    }
    // No cached ADD and no namespace: this pod was never attached, or was
    // detached already (DEL removes the cache last).
    if (list.plugins.empty() && request.netns_path.empty()) {
      return absl::OkStatus();
    }
    if (list.plugins.empty()) {
      absl::StatusOr<NetworkList> current = LoadConfig();
      // Nothing was attached with a config we can still read: nothing to undo.
      if (!current.ok()) return absl::OkStatus();
      list = *current;
    }
    if (absl::Status s = RunDel(list, request, prev); !s.ok()) return s;
    fs::remove(CachePath(request));
    return absl::OkStatus();
  }

  absl::Status Check(const PodNetworkRequest& request) override {
    std::string cached = ReadCache(request);
    if (cached.empty()) {
      return absl::NotFoundError(
          absl::StrCat("pod ", request.pod_id, " is not attached"));
    }
    json cache = json::parse(cached, nullptr, false);
    absl::StatusOr<NetworkList> list = ParseNetworkList(
        cache.value("config", json()).dump(), CachePath(request));
    if (!list.ok()) return list.status();
    if (!VersionAtLeast(list->cni_version, 0, 4))
      return absl::OkStatus();  // no CHECK before 0.4
    for (const json& plugin : list->plugins) {
      absl::StatusOr<json> r = Invoke("CHECK", *list, plugin, request,
                                      cache.value("result", json()));
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<NetworkList> LoadConfig() {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(options_.conf_dir, ec)) {
      std::string ext = entry.path().extension().string();
      if (ext == ".conf" || ext == ".conflist" || ext == ".json")
        files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      absl::StatusOr<NetworkList> list =
          ParseNetworkList(lite::ReadFileOrEmpty(file), file.string());
      if (list.ok()) return list;
      LOG(WARNING) << "skipping CNI config " << file << ": "
                   << list.status().message();
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cni config uninitialized: no valid network config "
                     "(.conf, .conflist) in ",
                     options_.conf_dir));
  }

  absl::StatusOr<std::string> FindPlugin(const std::string& type) {
    if (type.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("CNI plugin type \"", type, "\" has a /"));
    }
    for (const std::string& dir : options_.bin_dirs) {
      std::string path = absl::StrCat(dir, "/", type);
      if (access(path.c_str(), X_OK) == 0) return path;
    }
    return absl::FailedPreconditionError(
        absl::StrCat("CNI plugin \"", type, "\" not found in ",
                     absl::StrJoin(options_.bin_dirs, ":")));
  }

  absl::StatusOr<json> Invoke(const std::string& command,
                              const NetworkList& list, const json& plugin,
                              const PodNetworkRequest& request,
                              const json& prev_result) {
    // Here, where CNI_ARGS is built: ADD, CHECK and DEL alike.
    if (absl::Status s = CheckCniArgs(request); !s.ok()) return s;
    std::string type = plugin["type"].get<std::string>();
    absl::StatusOr<std::string> binary = FindPlugin(type);
    if (!binary.ok()) return binary.status();
    json config = plugin;
    config["name"] = list.name;
    config["cniVersion"] = list.cni_version;
    if (!prev_result.is_null()) config["prevResult"] = prev_result;
    json runtime_config = json::object();
    json caps = plugin.value("capabilities", json::object());
    if (caps.value("portMappings", false) && !request.port_mappings.empty()) {
      json mappings = json::array();
      for (const PortMapping& m : request.port_mappings) {
        json entry = {{"hostPort", m.host_port},
                      {"containerPort", m.container_port},
                      {"protocol", m.protocol}};
        if (!m.host_ip.empty()) entry["hostIP"] = m.host_ip;
        mappings.push_back(entry);
      }
      runtime_config["portMappings"] = mappings;
    }
    if (caps.value("bandwidth", false) && request.bandwidth) {
      runtime_config["bandwidth"] = {
          {"ingressRate", request.bandwidth->ingress_rate},
          {"ingressBurst", request.bandwidth->ingress_burst},
          {"egressRate", request.bandwidth->egress_rate},
          {"egressBurst", request.bandwidth->egress_burst}};
    }
    if (!runtime_config.empty()) config["runtimeConfig"] = runtime_config;

    SpawnOptions spawn;
    spawn.argv = {*binary};
    spawn.env = std::vector<std::string>{
        absl::StrCat("CNI_COMMAND=", command),
        absl::StrCat("CNI_CONTAINERID=", request.pod_id),
        absl::StrCat("CNI_NETNS=", request.netns_path),
        absl::StrCat("CNI_IFNAME=", request.interface_name),
        absl::StrCat("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=",
                     request.pod_namespace, ";K8S_POD_NAME=", request.pod_name,
                     ";K8S_POD_INFRA_CONTAINER_ID=", request.pod_id,
                     ";K8S_POD_UID=", request.pod_uid),
        absl::StrCat("CNI_PATH=", absl::StrJoin(options_.bin_dirs, ":")),
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    };
    absl::StatusOr<RunResult> run =
        RunAndCapture(spawn, config.dump(), kPluginTimeout);
    std::string what =
        absl::StrCat("CNI ", type, " ", command, " for pod ", request.pod_id);
    if (!run.ok())
      return absl::UnavailableError(
          absl::StrCat(what, ": ", run.status().message()));
    if (run->timed_out)
      return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
    json out = json::parse(run->out, nullptr, /*allow_exceptions=*/false);
    if (!run->status.ok()) {
      std::string message = run->err.empty() ? run->out : run->err;
      if (out.is_object() && out.contains("msg")) {
        message = out.value("msg", "");
        if (out.contains("details") && out["details"].is_string()) {
          absl::StrAppend(&message, ": ", out["details"].get<std::string>());
        }
      }
      return absl::FailedPreconditionError(absl::StrCat(
          what, " failed (", run->status.ToString(), "): ", message));
    }
    if (command != "ADD") return json();
    if (out.is_discarded() || !out.is_object()) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": result is not JSON"));
    }
    return out;
  }

  // DEL in reverse order; every plugin is asked even if one fails.
  absl::Status RunDel(const NetworkList& list, const PodNetworkRequest& request,
                      const json& prev) {
    absl::Status first_error;
    for (auto it = list.plugins.rbegin(); it != list.plugins.rend(); ++it) {
      absl::StatusOr<json> r = Invoke("DEL", list, *it, request, prev);
      if (!r.ok() && first_error.ok()) first_error = r.status();
    }
    return first_error;
  }

  // The pod's `lo`, brought up here rather than by exec'ing the loopback
  // plugin: one ioctl instead of ~20 ms of a Go binary's start. Up is all
  // the plugin's ADD does; the kernel gives lo 127.0.0.1/8 and ::1 itself.
  // Nothing is undone at DEL: the namespace goes away with the pod.
  static absl::Status LoopbackUp(const PodNetworkRequest& request) {
    absl::Status up;
    absl::Status entered = RunInNetworkNamespace(request.netns_path, [&] {
      int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        up = absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
        return;
      }
      struct ifreq ifr = {};
      memcpy(ifr.ifr_name, "lo", 3);
      if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
        up = absl::InternalError(
            absl::StrCat("get lo's flags: ", strerror(errno)));
      } else if ((ifr.ifr_flags & IFF_UP) == 0) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
          up =
              absl::InternalError(absl::StrCat("set lo up: ", strerror(errno)));
      }
      close(fd);
    });
    if (!entered.ok()) {
      // No namespace to enter, or no thread to enter it with: say which.
      return absl::Status(entered.code(),
                          absl::StrCat("loopback for pod ", request.pod_id,
                                       ": ", entered.message()));
    }
    if (!up.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "loopback for pod ", request.pod_id, ": ", up.message()));
    }
    return absl::OkStatus();
  }

  static json ListToJson(const NetworkList& list) {
    return {{"name", list.name},
            {"cniVersion", list.cni_version},
            {"plugins", list.plugins}};
  }

  std::string CachePath(const PodNetworkRequest& request) const {
    return absl::StrCat(options_.cache_dir, "/", request.pod_id, "-",
                        request.interface_name, ".json");
  }

  absl::Status WriteCache(const PodNetworkRequest& request,
                          const std::string& data) {
    std::string path = CachePath(request);
    if (int err = lite::WriteFileAtomic(path, data); err != 0) {
      return absl::InternalError(
          absl::StrCat("write ", path, ": ", strerror(err)));
    }
    return absl::OkStatus();
  }

  std::string ReadCache(const PodNetworkRequest& request) const {
    return lite::ReadFileOrEmpty(CachePath(request));
  }

  const CniOptions options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PodNetwork>> NewCniNetwork(CniOptions options) {
  std::error_code ec;
  fs::create_directories(options.cache_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("create ", options.cache_dir, ": ", ec.message()));
  }
  return std::unique_ptr<PodNetwork>(new CniNetwork(std::move(options)));
}

}  // namespace cradle
