// cradled: the cradle CRI daemon. This file only wires the parts together:
// it is the one reader of flags and config, in start order.
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cmd/cradled/systemd_notify.h"
#include "config/config.h"
#include "containerd_api/event_exchange.h"
#include "containerd_api/services.h"
#include "content/local/local_store.h"
#include "cri/images/image_service.h"
#include "cri/runtime/container_mounts.h"
#include "cri/runtime/pod_shims.h"
#include "cri/runtime/pod_streams.h"
#include "cri/runtime/readiness.h"
#include "cri/runtime/runtime_handlers.h"
#include "cri/runtime/runtime_metrics.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/cri_server.h"
#include "cri/store/container_store.h"
#include "cri/store/sandbox_store.h"
#include "glog/logging.h"
#include "images/catalog.h"
#include "images/garbage.h"
#include "images/puller.h"
#include "lite/absl_status.h"
#include "metadata/leveldb_store.h"
#include "metadata/metadata.h"
#include "metrics/metrics.h"
#include "metrics/process.h"
#include "metrics/server.h"
#include "mount/clone.h"
#include "namespaces/pinned.h"
#include "network/cni.h"
#include "process/process.h"
#include "registry/http_client.h"
#include "registry/registry_client.h"
#include "runc_driver/runc.h"
#include "snapshots/local/snapshotter.h"

namespace cradle {
namespace {

constexpr char kVersion[] = "0.1.0";
constexpr absl::Duration kShutdownGrace = absl::Seconds(10);
// Everything the CRI creates lives in this metadata namespace (as in
// containerd).
constexpr char kCriNamespace[] = "k8s.io";

constexpr char kUsage[] = R"(usage: cradled [--config PATH] [--log-level LEVEL]
       cradled config default    print the default config
       cradled --version

Serves the Kubernetes CRI v1 API. Without --config, reads
/etc/cradle/config.toml if it exists and otherwise runs with the embedded
default (see `cradled config default`).
)";

struct Flags {
  std::string config_path;
  std::string log_level;
};

// Returns an exit code when the command is done without running the daemon.
std::optional<int> ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      std::string prefix = absl::StrCat(name, "=");
      if (absl::StartsWith(arg, prefix)) return arg.substr(prefix.size());
      if (arg == name && i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    if (arg == "config" && i + 1 < argc &&
        std::string(argv[i + 1]) == "default") {
      std::cout << DefaultConfigText();
      return 0;
    } else if (arg == "--version" || arg == "version") {
      std::cout << "cradled " << kVersion << " (CRI v1)\n";
      return 0;
    } else if (arg == "--help" || arg == "-h" || arg == "help") {
      std::cout << kUsage;
      return 0;
    } else if (auto v = value("--config")) {
      flags->config_path = *v;
    } else if (auto v = value("--log-level")) {
      flags->log_level = *v;
    } else {
      std::cerr << "cradled: unknown argument \"" << arg << "\"\n\n" << kUsage;
      return 2;
    }
  }
  return std::nullopt;
}

void SetLogLevel(const std::string& level) {
  FLAGS_minloglevel = level == "error"     ? google::GLOG_ERROR
                      : level == "warning" ? google::GLOG_WARNING
                                           : google::GLOG_INFO;
  FLAGS_v = level == "debug" ? 2 : 0;
}

absl::Status MakeDir(const std::string& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("create ", path, ": ", ec.message()));
  if (chmod(path.c_str(), mode) != 0) {
    return absl::InternalError(
        absl::StrCat("chmod ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

// A helper binary: the configured path, else the one next to cradled (an
// install), else where Bazel puts it relative to cradled (a build tree).
std::string HelperBinary(const std::string& configured, const std::string& name,
                         const std::string& bazel_package) {
  if (!configured.empty()) return configured;
  std::error_code ec;
  std::filesystem::path self =
      std::filesystem::read_symlink("/proc/self/exe", ec);
  std::filesystem::path dir = self.parent_path();
  for (const std::filesystem::path& candidate :
       {dir / name, dir / "../.." / bazel_package / name}) {
    if (std::filesystem::exists(candidate, ec))
      return std::filesystem::canonical(candidate, ec).string();
  }
  return name;  // looked up in PATH
}

// Without CAP_SYS_RESOURCE a process may not lower its children's
// oom_score_adj below its own; runc would fail with an unhelpful message,
// so container values are clamped (containerd: restrict_oom_score_adj).
int MinOomScoreAdj() {
  std::ifstream status("/proc/self/status");
  std::string line;
  uint64_t effective = 0;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "CapEff:"))
      effective = std::stoull(line.substr(7), nullptr, 16);
  }
  constexpr int kCapSysResource = 24;
  if (effective & (uint64_t{1} << kCapSysResource)) return -1000;
  int own = 0;
  std::ifstream("/proc/self/oom_score_adj") >> own;
  LOG(WARNING) << "no CAP_SYS_RESOURCE: container oom_score_adj is clamped to "
               << own << " or more";
  return own;
}

int Fail(const absl::Status& status) {
  LOG(ERROR) << "cannot start: " << status.message();
  return 1;
}

int Run(const Flags& flags) {
  absl::StatusOr<Config> config = LoadConfig(flags.config_path);
  if (!config.ok()) {
    LOG(ERROR) << "cannot start: " << config.status().message();
    return 1;
  }
  if (!flags.log_level.empty()) config->log_level = flags.log_level;
  SetLogLevel(config->log_level);
  LOG(INFO) << "cradled " << kVersion << " starting: root=" << config->root
            << " state=" << config->state;

  // Root and state are 0711 as containerd keeps them: what is below is the
  // daemon's, or shared with a pod's own ids only.
  for (std::string* dir : {&config->root, &config->state}) {
    if (absl::Status s = MakeDir(*dir, 0711); !s.ok()) {
      LOG(ERROR) << "cannot start: " << s.message();
      return 1;
    }
    // As /proc/self/mountinfo spells it: what is mounted below is found
    // (and unmounted before any removal) whatever the config's spelling.
    char real[PATH_MAX];
    if (realpath(dir->c_str(), real) == nullptr) {
      LOG(ERROR) << "cannot start: resolve " << *dir << ": " << strerror(errno);
      return 1;
    }
    *dir = real;
  }

  // The socket first: a second daemon must learn that the address is taken,
  // not trip over the first one's database locks.
  absl::StatusOr<std::unique_ptr<SocketOwnership>> socket =
      SocketOwnership::Acquire(config->grpc.address);
  if (!socket.ok()) return Fail(socket.status());

  // Storage, bottom up: content, metadata, snapshots.
  absl::StatusOr<std::unique_ptr<ContentStore>> content =
      OpenLocalContentStore(config->root + "/content");
  if (!content.ok()) return Fail(content.status());
  absl::StatusOr<std::unique_ptr<MetadataStore>> metadata =
      OpenMetadataStore(config->root + "/metadata");
  if (!metadata.ok()) return Fail(metadata.status());
  // The snapshotter the config names: overlayfs, or native (full copies)
  // where overlayfs is not available.
  bool native = config->images.snapshotter == "native";
  std::string snapshot_root =
      config->root + "/snapshots/" + config->images.snapshotter;
  absl::StatusOr<std::unique_ptr<LocalSnapshotter>> snapshotter =
      OpenLocalSnapshotter(snapshot_root, native ? SnapshotDriver::kNative
                                                 : SnapshotDriver::kOverlay);
  if (!snapshotter.ok()) return Fail(snapshotter.status());
  LOG(INFO) << "snapshotter: " << config->images.snapshotter << " at "
            << snapshot_root;

  // Images: registry client, puller, catalog.
  std::unique_ptr<HttpClient> http = NewCurlHttpClient();
  RegistryClient registry(
      http.get(),
      RegistryHosts(
          {config->registry.plain_http, config->registry.insecure_skip_verify,
           config->registry.mirrors, config->registry.mirror_credentials}));
  PullerOptions puller_options{
      kCriNamespace, static_cast<int>(config->images.max_concurrent_downloads),
      config->images.snapshotter};
  ApplyLimits& unpack = puller_options.unpack_limits;
  unpack.max_expansion_ratio = config->images.unpack_max_ratio;
  unpack.expansion_floor_bytes = config->images.unpack_ratio_floor_mib << 20;
  unpack.min_free_bytes = config->images.unpack_min_free_mib << 20;
  unpack.max_entries = config->images.unpack_max_entries;
  unpack.max_layers = config->images.max_layers;
  puller_options.progress_timeout = config->images.image_pull_progress_timeout;
  ImagePuller puller(&registry, content->get(), metadata->get(),
                     snapshotter->get(), snapshotter->get(), puller_options);
  ImageGarbageCollector gc(metadata->get(), content->get(), snapshotter->get(),
                           config->images.snapshotter);
  // Leftovers of pulls that died with an earlier daemon, once their lease
  // has run out.
  if (absl::StatusOr<GcReport> collected = gc.Collect(); !collected.ok()) {
    LOG(WARNING) << "gc at start: " << collected.status();
  }
  ImageCatalog catalog(content->get(), metadata->get(), kCriNamespace);

  // Pods: their records and their network.
  absl::StatusOr<std::unique_ptr<SandboxStore>> sandboxes =
      SandboxStore::Open(config->root + "/cri/sandboxes");
  if (!sandboxes.ok()) return Fail(sandboxes.status());
  absl::StatusOr<std::unique_ptr<PodNetwork>> network =
      NewCniNetwork({config->cni.conf_dir, config->cni.bin_dirs,
                     config->root + "/cri/cni-cache"});
  if (!network.ok()) return Fail(network.status());
  PodNetwork* network_ptr = network->get();

  RuntimeServiceOptions runtime_options;
  runtime_options.runtime_version = kVersion;
  runtime_options.config_json = ConfigToJson(*config);
  std::string shim_binary =
      HelperBinary(config->runtime.shim, "cradle-shim", "shim");
  // The OCI runtimes, each with the daemon's own driver on the shims' root:
  // it kills and deletes what a stopped or dead shim cannot.
  bool systemd_cgroup = config->runtime.cgroup_driver == "systemd";
  std::string runc_logs = config->state + "/runc-logs";
  if (absl::Status s = MakeDir(runc_logs, 0700); !s.ok()) return Fail(s);
  std::vector<RuntimeHandlerConfig> handler_configs;
  for (const auto& [name, h] : config->runtime.handlers) {
    handler_configs.push_back(
        {name, h.binary, h.root.empty() ? config->state + "/" + name : h.root});
  }
  absl::StatusOr<std::unique_ptr<RuntimeHandlers>> handlers =
      RuntimeHandlers::Open(handler_configs, config->runtime.default_handler,
                            runc_logs, systemd_cgroup);
  if (!handlers.ok()) return Fail(handlers.status());
  std::string runc_binary = (*handlers)->Default().binary;
  runtime_options.runtime_ready =
      ReadyWhen("ContainerRuntimeNotReady", [shim_binary, runc_binary] {
        for (const std::string& b : {shim_binary, runc_binary}) {
          if (!FindProgram(b).ok())
            return absl::FailedPreconditionError(b + " is not installed");
        }
        return absl::OkStatus();
      });
  runtime_options.network_ready = ReadyWhen(
      "NetworkPluginNotReady", [network_ptr] { return network_ptr->Ready(); });
  runtime_options.sandboxes = sandboxes->get();
  runtime_options.network = network_ptr;
  runtime_options.state_dir = config->state;
  absl::StatusOr<std::unique_ptr<ContainerStore>> containers =
      ContainerStore::Open(metadata->get(), kCriNamespace);
  if (!containers.ok()) return Fail(containers.status());
  ShimLaunchOptions shim_options;
  shim_options.binary = shim_binary;
  shim_options.systemd_cgroup = systemd_cgroup;
  PodShims shims(shim_options, config->state);
  runtime_options.handlers = handlers->get();
  runtime_options.containers = containers->get();
  runtime_options.images = &catalog;
  runtime_options.snapshotter = snapshotter->get();
  runtime_options.snapshotter_name = config->images.snapshotter;
  runtime_options.snapshot_root = snapshot_root;
  runtime_options.shims = &shims;
  runtime_options.root_dir = config->root;
  runtime_options.systemd_cgroup = shim_options.systemd_cgroup;
  runtime_options.min_oom_score_adj = MinOomScoreAdj();
  if (absl::Status s = ProbeRecursiveReadOnly(config->state); s.ok()) {
    runtime_options.recursive_read_only_mounts = true;
  } else {
    LOG(WARNING) << "recursive read-only mounts are off: " << s;
  }
  // On the snapshotter's filesystem: the idmapped layers are its dirs. The
  // native driver's rootfs is a plain writable tree, never idmapped.
  if (native) {
    LOG(WARNING) << "user namespaces are off: they need the overlayfs "
                    "snapshotter";
  } else if (absl::Status s = ProbeUserNamespaces(snapshot_root); s.ok()) {
    runtime_options.user_namespaces = true;
  } else {
    LOG(WARNING) << "user namespaces are off: " << s;
  }
  runtime_options.pause_binary = HelperBinary("", "pause", "cmd/pause");
  runtime_options.cdi_spec_dirs = config->runtime.cdi_spec_dirs;
  // Signals are taken by one thread with sigwait; block them everywhere first
  // so gRPC's and the streaming server's threads inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  PodStreams pod_streams(containers->get(), sandboxes->get(), &shims);
  if (config->streaming.tls) {
    return Fail(absl::UnimplementedError(
        "[streaming] tls = true is not supported yet; the server listens on "
        "loopback by default"));
  }
  streaming::ServerOptions streaming_options;
  streaming_options.address = config->streaming.address;
  streaming_options.port = static_cast<int>(config->streaming.port);
  absl::StatusOr<std::unique_ptr<streaming::Server>> streaming_server =
      streaming::Server::Start(streaming_options, &pod_streams);
  if (!streaming_server.ok()) return Fail(streaming_server.status());
  runtime_options.streaming = streaming_server->get();
  RuntimeService runtime_service(std::move(runtime_options));
  ContainerStore* container_store = containers->get();
  ImageService image_service({&puller, &catalog, &gc, snapshot_root,
                              [container_store](const std::string& image_id) {
                                return CheckImageUnused(*container_store,
                                                        image_id);
                              }});
  // Before serving: the store must match what runs (a crash, a killed
  // shim, a reboot) before the kubelet reads it.
  runtime_service.Recover();
  // Snapshots whose containers recovery found gone go now, not at the
  // next start.
  if (absl::StatusOr<GcReport> collected = gc.Collect(); !collected.ok()) {
    LOG(WARNING) << "gc after recovery: " << collected.status();
  }

  // containerd's API over the same stores, on the same socket.
  containerd_api::EventExchange containerd_events;
  containerd_api::ContainerdApiDeps api_deps;
  api_deps.version = kVersion;
  api_deps.root = config->root;
  api_deps.state = config->state;
  api_deps.metadata = metadata->get();
  api_deps.content = content->get();
  api_deps.snapshotter = snapshotter->get();
  api_deps.applier = snapshotter->get();
  api_deps.snapshotter_name = config->images.snapshotter;
  api_deps.snapshot_root = snapshot_root;
  api_deps.unpack_limits = &puller_options.unpack_limits;
  api_deps.gc = &gc;
  api_deps.events = &containerd_events;
  api_deps.cri_containers = containers->get();
  api_deps.cri_sandboxes = sandboxes->get();
  api_deps.shim_binary = shim_binary;
  api_deps.systemd_cgroup = systemd_cgroup;
  // containerd's runtime names map onto the handlers: its default
  // (io.containerd.runc.v2) runs under cradle's default handler.
  api_deps.runtimes[api_deps.default_runtime] = runc_binary;
  for (const auto& [name, h] : config->runtime.handlers) {
    api_deps.runtimes[name] = h.binary;
    api_deps.runtimes["io.containerd." + name + ".v2"] = h.binary;
  }
  std::vector<std::unique_ptr<grpc::Service>> containerd_services =
      containerd_api::NewContainerdServices(api_deps);
  containerd_api::RecoverContainerdServices(containerd_services);
  std::vector<grpc::Service*> served = {&runtime_service, &image_service};
  for (const auto& service : containerd_services) {
    served.push_back(service.get());
  }

  // Counted whether or not anyone scrapes; served only when configured.
  // Declared after the stores, so the server stops before they go.
  metrics::Registry& metrics_registry = metrics::Default();
  metrics::RegisterProcessMetrics(&metrics_registry);
  RegisterRuntimeMetrics(&metrics_registry, sandboxes->get(), containers->get(),
                         &shims);
  std::unique_ptr<metrics::Server> metrics_server;
  if (!config->metrics.address.empty()) {
    metrics::ServerOptions metrics_options;
    metrics_options.address = config->metrics.address;
    absl::StatusOr<std::unique_ptr<metrics::Server>> started =
        metrics::Server::Start(metrics_options, &metrics_registry);
    if (!started.ok()) return Fail(started.status());
    metrics_server = *std::move(started);
    LOG(INFO) << "serving Prometheus metrics on http://"
              << config->metrics.address << "/v1/metrics";
  }

  CriServerOptions server_options;
  server_options.metrics = &metrics_registry;
  server_options.address = config->grpc.address;
  server_options.gid = static_cast<gid_t>(config->grpc.gid);
  server_options.max_recv_message_size =
      static_cast<int>(config->grpc.max_recv_message_size);
  server_options.max_send_message_size =
      static_cast<int>(config->grpc.max_send_message_size);
  absl::StatusOr<std::unique_ptr<CriServer>> server = CriServer::Start(
      server_options, *std::move(socket), served);
  if (!server.ok()) {
    LOG(ERROR) << "cannot start: " << server.status().message();
    return 1;
  }

  // Only now: the socket listens and every service is registered.
  NotifyReady(config->grpc.address);
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    LOG(INFO) << "received " << strsignal(sig) << "; draining in-flight calls";
    NotifyStopping();
    // Event streams never end by themselves; a kubelet keeps one open.
    runtime_service.EndContainerEventStreams();
    containerd_events.CloseAll();
    (*server)->Shutdown(kShutdownGrace);
  });
  (*server)->Wait();
  signal_thread.join();
  if (metrics_server != nullptr) metrics_server->Stop();
  LOG(INFO) << "cradled stopped";
  return 0;
}

}  // namespace
}  // namespace cradle

int main(int argc, char** argv) {
  // Everything cradled writes (metadata, blobs, bundles with the pods'
  // secrets) is root's alone unless it says otherwise; the processes it
  // starts get the conventional 022 back (SpawnOptions::umask).
  umask(077);
  cradle::Flags flags;
  if (std::optional<int> done = cradle::ParseFlags(argc, argv, &flags))
    return *done;
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  return cradle::Run(flags);
}
