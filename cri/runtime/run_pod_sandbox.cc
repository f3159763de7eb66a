#include <sys/mount.h>
#include <sys/stat.h>

#include <filesystem>
#include <system_error>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cri/runtime/container_spec.h"
#include "cri/runtime/cri_input.h"
#include "cri/runtime/pod_files.h"
#include "cri/runtime/pod_userns.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"
#include "failpoint/failpoint.h"
#include "glog/logging.h"
#include "namespaces/pinned.h"
#include "namespaces/user.h"
#include "shim/client/shim_client.h"

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

// The OCI runtime reaches a user-namespaced pod's rootfs by path as the
// pod's root, which is "other" to host root's dirs: every dir from / to
// `dir` must let others through. FailedPrecondition naming the first that
// does not, rather than runc's bare "permission denied".
absl::Status CheckTraversable(const std::string& dir) {
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    struct stat st;
    if (stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          p.string(), " (mode ", absl::Hex(st.st_mode & 07777),
          ") shuts out pods with their own user namespace; give it o+x "
          "(e.g. 0711) to run them"));
    }
    if (p == p.root_path()) break;
  }
  return absl::OkStatus();
}

}  // namespace

std::string RuntimeService::ShimCgroup(const PodRecord& r) const {
  if (options_.systemd_cgroup) return "";
  // Outside the pod's cgroup parent, so the pod's pids and memory limits
  // never starve the process that manages it.
  return CgroupfsPath(kShimCgroupParent, r.id.substr(0, 12));
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
  if (absl::Status s = ValidatePodSandboxConfig(config); !s.ok()) {
    return ToGrpc(absl::Status(
        s.code(),
        absl::StrCat("RunPodSandbox ", absl::CHexEscape(meta.namespace_()), "/",
                     absl::CHexEscape(meta.name()), ": ", s.message())));
  }
  // Before anything is reserved: a RuntimeClass naming a runtime this node
  // lacks must not fall back to another one.
  absl::StatusOr<const RuntimeHandler*> handler =
      options_.handlers->Find(request->runtime_handler());
  if (!handler.ok()) {
    return ToGrpc(absl::Status(
        handler.status().code(),
        absl::StrCat("RunPodSandbox ", absl::CHexEscape(meta.namespace_()), "/",
                     absl::CHexEscape(meta.name()), ": ",
                     handler.status().message())));
  }
  absl::StatusOr<std::optional<UserNamespaceMaps>> userns =
      PodUserNamespace(config);
  if (!userns.ok()) {
    return ToGrpc(absl::Status(
        userns.status().code(),
        absl::StrCat("RunPodSandbox ", absl::CHexEscape(meta.namespace_()), "/",
                     absl::CHexEscape(meta.name()), ": ",
                     userns.status().message())));
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
  // The one used, so a later change of default_handler cannot move it.
  r.runtime_handler = (*handler)->name;
  r.labels.insert(config.labels().begin(), config.labels().end());
  r.annotations.insert(config.annotations().begin(),
                       config.annotations().end());
  r.pod_dir = absl::StrCat(options_.state_dir, "/pods/", r.id);
  // Every path the steps below will create is in the record before the
  // first of them, so teardown finds all of it whenever it runs.
  if (!host_network) {
    r.netns_path = r.pod_dir + "/ns/net";
    // A pod on the host network shares the host's UTS namespace too.
    r.utsns_path = r.pod_dir + "/ns/uts";
  }
  if (!host_ipc) {
    r.ipcns_path = r.pod_dir + "/ns/ipc";
    r.shm_path = r.pod_dir + "/shm";
  }
  if (userns->has_value()) r.userns_path = r.pod_dir + "/ns/user";
  r.state = PodState::kCreating;
  // Reserve the name first: a duplicate must fail before anything is built.
  if (absl::Status s = options_.sandboxes->Add(r); !s.ok()) return ToGrpc(s);
  failpoint::Hit("RunPodSandbox.recorded");

  bool attached = false;  // CNI ADD succeeded (a failed ADD undoes itself)
  auto fail = [&](const absl::Status& s) {
    LOG(ERROR) << "pod=" << r.id << " (" << r.pod_namespace << "/" << r.name
               << ") failed to start: " << s;
    // Without the pin, teardown asks CNI for nothing it never attached.
    if (!attached && !r.netns_path.empty())
      (void)RemovePinnedNamespace(r.netns_path);
    absl::Status undone = StopSandbox(r);
    if (undone.ok()) undone = RemoveSandboxFiles(r);
    if (undone.ok()) {
      (void)options_.sandboxes->Remove(r.id);
    } else {
      // Kept NOTREADY and listed: RemovePodSandbox finishes the job.
      LOG(ERROR) << "pod=" << r.id << " not fully undone: " << undone;
    }
    return ToGrpc(
        absl::Status(s.code(), absl::StrCat("RunPodSandbox ", r.pod_namespace,
                                            "/", r.name, ": ", s.message())));
  };
  std::error_code ec;
  fs::create_directories(r.pod_dir + "/ns", ec);
  if (ec)
    return fail(absl::InternalError(
        absl::StrCat("create ", r.pod_dir, ": ", ec.message())));
  if (userns->has_value()) {
    if (!options_.user_namespaces) {
      return fail(absl::FailedPreconditionError(
          "this node cannot give pods user namespaces (cradled's start-up "
          "probe failed; its log says why)"));
    }
    if (absl::Status s = CheckTraversable(options_.state_dir); !s.ok())
      return fail(s);
    // The pods dir lets anyone through (its entries are not listed); each
    // pod's dir lets only its own root through.
    fs::permissions(options_.state_dir + "/pods", fs::perms(0711), ec);
    if (absl::Status s = LetPodRootThrough(r.pod_dir, **userns); !s.ok())
      return fail(s);
  }

  std::string hostname = config.hostname();
  if (host_network && hostname.empty()) {
    char buf[256] = {};
    gethostname(buf, sizeof(buf) - 1);
    hostname = buf;
  }
  if (userns->has_value()) {
    // Made inside the pod's user namespace, so root of the pod owns its
    // network, hostname and IPC, and nothing of the host's. The pod uses
    // no host namespace (PodUserNamespace checked).
    if (absl::Status s =
            CreatePinnedUserNamespace(r.userns_path, **userns,
                                      {{NamespaceKind::kNetwork, r.netns_path},
                                       {NamespaceKind::kUts, r.utsns_path},
                                       {NamespaceKind::kIpc, r.ipcns_path}},
                                      hostname);
        !s.ok()) {
      return fail(s);
    }
  }
  if (!host_network && !userns->has_value()) {
    if (absl::Status s =
            CreatePinnedNamespace(NamespaceKind::kNetwork, r.netns_path);
        !s.ok()) {
      return fail(s);
    }
    if (absl::Status s =
            CreatePinnedNamespace(NamespaceKind::kUts, r.utsns_path, hostname);
        !s.ok()) {
      return fail(s);
    }
  }
  if (!host_ipc) {
    if (absl::Status s =
            userns->has_value()
                ? absl::OkStatus()
                : CreatePinnedNamespace(NamespaceKind::kIpc, r.ipcns_path);
        !s.ok()) {
      return fail(s);
    }
    fs::create_directories(r.shm_path, ec);
    if (mount("shm", r.shm_path.c_str(), "tmpfs",
              MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") != 0) {
      return fail(absl::InternalError(
          absl::StrCat("mount the pod's shm: ", strerror(errno))));
    }
  }
  failpoint::Hit("RunPodSandbox.namespaces");
  if (absl::Status s = WritePodFiles(r.pod_dir, config, host_network, hostname);
      !s.ok()) {
    return fail(s);
  }
  // The shim needs nothing of the network: it starts while CNI runs, so a
  // pod's start pays for the longer of the two instead of their sum.
  absl::StatusOr<ShimRef> shim = absl::UnknownError("shim not started");
  auto start_shim = [this, &shim, id = r.id, dir = r.pod_dir,
                     cgroup = ShimCgroup(r), &runtime = **handler] {
    shim = options_.shims->Start(id, dir, cgroup, runtime);
  };
  std::thread shim_start;
  try {
    shim_start = std::thread(start_shim);
  } catch (const std::system_error& e) {
    // No thread to spare (a tasks limit): the shim starts after CNI.
    LOG(WARNING) << "pod=" << r.id
                 << " starting the shim after the network: " << e.what();
  }
  // Joined on every way out, so no exception can leave it running.
  absl::Cleanup join_shim = [&shim_start] {
    if (shim_start.joinable()) shim_start.join();
  };
  const bool shim_concurrent = shim_start.joinable();
  absl::Status network = absl::OkStatus();
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
    absl::StatusOr<PodNetworkResult> result = options_.network->Setup(net);
    if (result.ok()) {
      attached = true;
      r.ips = result->ips;
    } else {
      network = result.status();
    }
  }
  std::move(join_shim).Invoke();
  if (!network.ok()) return fail(network);
  if (!shim_concurrent) start_shim();
  failpoint::Hit("RunPodSandbox.network");
  if (!shim.ok()) return fail(shim.status());
  monitor_->Watch(r.id);
  failpoint::Hit("RunPodSandbox.shim");
  if (absl::Status s = StartInfra(r, config); !s.ok()) return fail(s);
  failpoint::Hit("RunPodSandbox.infra");
  r.state = PodState::kReady;
  if (absl::Status s = SetPodReady(r); !s.ok()) return fail(s);
  LOG(INFO) << "pod=" << r.id << " (" << r.pod_namespace << "/" << r.name
            << ") ready" << (r.ips.empty() ? "" : " ip=" + r.ips[0]);
  response->set_pod_sandbox_id(r.id);
  return grpc::Status::OK;
}

}  // namespace cradle
