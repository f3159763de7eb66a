#include <sys/mount.h>

#include <filesystem>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cri/runtime/container_spec.h"
#include "cri/runtime/pod_files.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"
#include "glog/logging.h"
#include "namespaces/pinned.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;
using runtime::v1::NamespaceMode;

std::string NewId() {
  absl::BitGen gen;
  std::string id;
  for (int i = 0; i < 4; ++i)
    absl::StrAppendFormat(&id, "%016x", absl::Uniform<uint64_t>(gen));
  return id;
}

// Everything RunPodSandbox built, undone in reverse when a later step fails.
void Undo(const PodRecord& r) {
  if (!r.shm_path.empty()) umount2(r.shm_path.c_str(), MNT_DETACH);
  for (const std::string& ns : {r.netns_path, r.ipcns_path, r.utsns_path}) {
    if (!ns.empty()) (void)RemovePinnedNamespace(ns);
  }
  std::error_code ec;
  fs::remove_all(r.pod_dir, ec);
}

}  // namespace

std::string RuntimeService::ShimCgroup(const PodRecord& r) const {
  if (options_.systemd_cgroup) return "";
  runtime::v1::PodSandboxConfig config;
  config.ParseFromString(r.config);
  return CgroupfsPath(config.linux().cgroup_parent(),
                      "cradle-shim-" + r.id.substr(0, 12));
}

grpc::Status RuntimeService::RunPodSandbox(
    grpc::ServerContext*, const runtime::v1::RunPodSandboxRequest* request,
    runtime::v1::RunPodSandboxResponse* response) {
  const runtime::v1::PodSandboxConfig& config = request->config();
  const runtime::v1::PodSandboxMetadata& meta = config.metadata();
  if (meta.name().empty() || meta.namespace_().empty() || meta.uid().empty()) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        "RunPodSandbox: metadata needs name, namespace and uid");
  }
  const runtime::v1::NamespaceOption& ns_options =
      config.linux().security_context().namespace_options();
  // A PID namespace shared by the pod (the CRI's default mode) needs a
  // process to hold it only once containers run; the container part starts
  // the pause process then. The mode is kept in the stored config.
  bool host_network = ns_options.network() == NamespaceMode::NODE;
  bool host_ipc = ns_options.ipc() == NamespaceMode::NODE;

  PodRecord r;
  r.id = NewId();
  r.name = meta.name();
  r.pod_namespace = meta.namespace_();
  r.uid = meta.uid();
  r.attempt = meta.attempt();
  r.created_at = absl::Now();
  r.config = config.SerializeAsString();
  r.runtime_handler = request->runtime_handler();
  r.labels.insert(config.labels().begin(), config.labels().end());
  r.annotations.insert(config.annotations().begin(),
                       config.annotations().end());
  r.pod_dir = absl::StrCat(options_.state_dir, "/pods/", r.id);
  // Reserve the name first: a duplicate must fail before anything is built.
  if (absl::Status s = options_.sandboxes->Add(r); !s.ok()) return ToGrpc(s);

  auto fail = [&](const absl::Status& s) {
    LOG(ERROR) << "pod=" << r.id << " (" << r.pod_namespace << "/" << r.name
               << ") failed to start: " << s;
    Undo(r);
    (void)options_.sandboxes->Remove(r.id);
    return ToGrpc(
        absl::Status(s.code(), absl::StrCat("RunPodSandbox ", r.pod_namespace,
                                            "/", r.name, ": ", s.message())));
  };
  std::error_code ec;
  fs::create_directories(r.pod_dir + "/ns", ec);
  if (ec)
    return fail(absl::InternalError(
        absl::StrCat("create ", r.pod_dir, ": ", ec.message())));

  std::string hostname = config.hostname();
  if (host_network && hostname.empty()) {
    char buf[256] = {};
    gethostname(buf, sizeof(buf) - 1);
    hostname = buf;
  }
  if (!host_network) {
    r.netns_path = r.pod_dir + "/ns/net";
    if (absl::Status s =
            CreatePinnedNamespace(NamespaceKind::kNetwork, r.netns_path);
        !s.ok()) {
      r.netns_path.clear();
      return fail(s);
    }
    // A pod on the host network shares the host's UTS namespace too.
    r.utsns_path = r.pod_dir + "/ns/uts";
    if (absl::Status s =
            CreatePinnedNamespace(NamespaceKind::kUts, r.utsns_path, hostname);
        !s.ok()) {
      r.utsns_path.clear();
      return fail(s);
    }
  }
  if (!host_ipc) {
    r.ipcns_path = r.pod_dir + "/ns/ipc";
    if (absl::Status s =
            CreatePinnedNamespace(NamespaceKind::kIpc, r.ipcns_path);
        !s.ok()) {
      r.ipcns_path.clear();
      return fail(s);
    }
    r.shm_path = r.pod_dir + "/shm";
    fs::create_directories(r.shm_path, ec);
    if (mount("shm", r.shm_path.c_str(), "tmpfs",
              MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") != 0) {
      std::string why = strerror(errno);
      r.shm_path.clear();
      return fail(absl::InternalError("mount the pod's shm: " + why));
    }
  } else {
    r.shm_path.clear();
  }
  if (absl::Status s = WritePodFiles(r.pod_dir, config, host_network, hostname);
      !s.ok()) {
    return fail(s);
  }
  if (!host_network) {
    PodNetworkRequest net{r.id,  r.netns_path, r.name, r.pod_namespace,
                          r.uid, "eth0",       {},     {}};
    for (const runtime::v1::PortMapping& p : config.port_mappings()) {
      // Only a host port publishes anything; the rest is documentation.
      if (p.host_port() <= 0) continue;
      const char* proto = p.protocol() == runtime::v1::UDP    ? "udp"
                          : p.protocol() == runtime::v1::SCTP ? "sctp"
                                                              : "tcp";
      net.port_mappings.push_back(
          {p.host_port(), p.container_port(), proto, p.host_ip()});
    }
    absl::StatusOr<PodNetworkResult> attached = options_.network->Setup(net);
    if (!attached.ok()) return fail(attached.status());
    r.ips = attached->ips;
  }
  // From here on a failure also undoes the network and the shim.
  auto fail_started = [&](const absl::Status& s) {
    (void)StopInfra(r);
    (void)RemoveInfra(r);
    (void)options_.shims->Stop(r.id, ShimCgroup(r));
    if (!host_network) {
      (void)options_.network->Teardown(
          {r.id, r.netns_path, r.name, r.pod_namespace, r.uid});
    }
    return fail(s);
  };
  if (absl::StatusOr<ShimClient*> shim =
          options_.shims->Start(r.id, r.pod_dir, ShimCgroup(r));
      !shim.ok()) {
    return fail_started(shim.status());
  }
  if (absl::Status s = StartInfra(r, config); !s.ok()) return fail_started(s);
  r.ready = true;
  if (absl::Status s = options_.sandboxes->Update(r); !s.ok()) {
    return fail_started(s);
  }
  LOG(INFO) << "pod=" << r.id << " (" << r.pod_namespace << "/" << r.name
            << ") ready" << (r.ips.empty() ? "" : " ip=" + r.ips[0]);
  response->set_pod_sandbox_id(r.id);
  return grpc::Status::OK;
}

}  // namespace cradle
