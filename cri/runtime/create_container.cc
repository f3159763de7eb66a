#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cri/runtime/container_mounts.h"
#include "cri/runtime/container_spec.h"
#include "cri/runtime/container_user.h"
#include "cri/runtime/cri_input.h"
#include "cri/runtime/pod_userns.h"
#include "cri/runtime/runtime_service.h"
#include "cri/runtime/stop_signal.h"
#include "cri/server/grpc_status.h"
#include "failpoint/failpoint.h"
#include "glog/logging.h"
#include "lite/files.h"
#include "mount/mount.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

std::string NewContainerId() {
  absl::BitGen gen;
  std::string id;
  for (int i = 0; i < 4; ++i)
    absl::StrAppendFormat(&id, "%016x", absl::Uniform<uint64_t>(gen));
  return id;
}

// The bundle's config.json carries the container's environment, secrets
// included: root only.
absl::Status WriteFile(const std::string& path, const std::string& data) {
  if (int err = lite::WriteFileAtomic(path, data, 0600); err != 0)
    return absl::InternalError(
        absl::StrCat("write ", path, ": ", strerror(err)));
  return absl::OkStatus();
}

}  // namespace

bool RuntimeService::Creating(const std::string& id) {
  absl::MutexLock lock(&creating_mu_);
  return creating_.count(id) > 0;
}

grpc::Status RuntimeService::FindReadyPod(const char* rpc,
                                          const std::string& id,
                                          PodRecord* out) {
  absl::StatusOr<PodRecord> found = options_.sandboxes->Get(id);
  if (!found.ok()) return ToGrpc(found.status());
  if (!found->ready()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat(rpc, ": pod sandbox ", found->id,
                                     " is not ready (stopped); create a new "
                                     "pod"));
  }
  *out = *std::move(found);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::CreateContainer(
    grpc::ServerContext*, const runtime::v1::CreateContainerRequest* request,
    runtime::v1::CreateContainerResponse* response) {
  const runtime::v1::ContainerConfig& config = request->config();
  if (config.metadata().name().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "CreateContainer: config.metadata.name is empty");
  }
  if (config.image().image().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "CreateContainer: config.image.image is empty");
  }
  if (absl::Status s = ValidateContainerConfig(config); !s.ok()) {
    return ToGrpc(absl::Status(
        s.code(), absl::StrCat("CreateContainer ",
                               absl::CHexEscape(config.metadata().name()), ": ",
                               s.message())));
  }
  PodRecord pod;
  if (grpc::Status s =
          FindReadyPod("CreateContainer", request->pod_sandbox_id(), &pod);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<CatalogImage> image =
      options_.images->Find(config.image().image());
  if (!image.ok()) {
    return ToGrpc(absl::Status(
        image.status().code(),
        absl::StrCat(
            "CreateContainer: image \"", config.image().image(),
            "\": ", image.status().message(),
            absl::IsNotFound(image.status()) ? " (pull it first)" : "")));
  }
  runtime::v1::PodSandboxConfig pod_config;
  pod_config.ParseFromString(pod.config);

  CriContainer c;
  c.id = NewContainerId();
  c.pod_id = pod.id;
  c.name = config.metadata().name();
  c.attempt = config.metadata().attempt();
  c.created_at = absl::Now();
  c.config = config.SerializeAsString();
  c.image_id = image->id.ToString();
  c.image_name = config.image().image();
  c.image_ref =
      image->repo_digests.empty() ? c.image_id : image->repo_digests.front();
  if (!pod_config.log_directory().empty() && !config.log_path().empty()) {
    c.log_path =
        absl::StrCat(pod_config.log_directory(), "/", config.log_path());
  }
  c.bundle = absl::StrCat(pod.pod_dir, "/containers/", c.id);
  c.rootfs = c.bundle + "/rootfs";
  c.snapshotter = options_.snapshotter_name;
  c.snapshot_key = c.id;
  c.stop_signal =
      EffectiveStopSignal(config.stop_signal(), image->config.stop_signal);
  c.labels.insert(config.labels().begin(), config.labels().end());
  c.annotations.insert(config.annotations().begin(),
                       config.annotations().end());
  c.state = CriContainer::kCreated;
  // Images mounted as volumes are found before anything is reserved.
  std::map<int, std::string> volume_parents;  // mount index -> chain id
  for (int i = 0; i < config.mounts_size(); ++i) {
    const runtime::v1::Mount& m = config.mounts(i);
    if (m.image().image().empty()) continue;
    absl::StatusOr<CatalogImage> v = options_.images->Find(m.image().image());
    if (!v.ok()) {
      return ToGrpc(absl::Status(
          v.status().code(),
          absl::StrCat(
              "CreateContainer ", c.name, ": image \"", m.image().image(),
              "\" of the mount of ", m.container_path(), ": ",
              v.status().message(),
              absl::IsNotFound(v.status()) ? " (pull it first)" : "")));
    }
    volume_parents[i] = v->top_chain_id.ToString();
    c.image_volumes.push_back(
        {v->id.ToString(), ImageVolumeKey(c.id, i), m.container_path()});
  }
  // Until the shim has it, its absence there is no sign of a lost create.
  {
    absl::MutexLock lock(&creating_mu_);
    creating_.insert(c.id);
  }
  absl::Cleanup created = [&] {
    absl::MutexLock lock(&creating_mu_);
    creating_.erase(c.id);
  };
  // The name is reserved and the snapshot named in metadata before the
  // snapshot exists, so the garbage collector never sees it unowned.
  if (absl::Status s = options_.containers->Add(c); !s.ok()) return ToGrpc(s);
  failpoint::Hit("CreateContainer.recorded");

  std::string own_dir =
      absl::StrCat(options_.root_dir, "/cri/containers/", c.id);
  std::string mounts_dir = own_dir + "/mounts";
  bool mounted = false;
  auto fail = [&](const absl::Status& s) {
    LOG(ERROR) << "pod=" << pod.id << " container=" << c.id << " (" << c.name
               << ") create failed: " << s;
    if (mounted) (void)UnmountAll(c.rootfs);
    // Before the snapshot goes: its overlay may be mounted in there.
    absl::Status released =
        ReleaseContainerMounts(*options_.snapshotter, c, mounts_dir);
    if (released.ok()) (void)options_.snapshotter->Remove(c.snapshot_key);
    std::error_code ec;
    fs::remove_all(c.bundle, ec);
    if (released.ok()) released = RemoveIfNothingMounted(own_dir);
    if (released.ok()) {
      (void)options_.containers->Remove(c.id);
    } else {
      // Kept and listed: RemoveContainer finishes the job.
      LOG(ERROR) << "container=" << c.id << " not fully undone: " << released;
    }
    return ToGrpc(absl::Status(
        s.code(), absl::StrCat("CreateContainer ", c.name, " in pod ", pod.name,
                               ": ", s.message())));
  };
  // In a pod with its own user namespace the container reads its layers and
  // its volumes through idmapped mounts: host root's files are root's
  // inside, and nothing of the image is ever chowned.
  int userns_fd = -1;
  absl::Cleanup close_userns = [&] {
    if (userns_fd >= 0) close(userns_fd);
  };
  std::optional<IdmappedLayers> layers;
  std::optional<UserNamespaceMaps> userns;
  if (!pod.userns_path.empty()) {
    absl::StatusOr<std::optional<UserNamespaceMaps>> maps =
        PodUserNamespace(pod_config);
    if (!maps.ok()) return fail(maps.status());
    if (!maps->has_value()) {
      return fail(absl::InternalError(
          "the pod has a user namespace but its config no maps"));
    }
    userns = **maps;
    userns_fd = open(pod.userns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (userns_fd < 0) {
      return fail(absl::FailedPreconditionError(
          absl::StrCat("the pod's user namespace ", pod.userns_path, ": ",
                       strerror(errno), "; recreate the pod")));
    }
    absl::StatusOr<IdmappedLayers> mapped =
        MountIdmappedLayers(options_.snapshot_root + "/snapshots",
                            mounts_dir + "/layers", userns_fd);
    if (!mapped.ok()) return fail(mapped.status());
    layers = *mapped;
  }
  std::error_code ec;
  fs::create_directories(c.rootfs, ec);
  if (ec) return fail(absl::InternalError("create " + c.rootfs));
  if (userns) {
    for (const std::string& dir : {pod.pod_dir + "/containers", c.bundle}) {
      if (absl::Status s = LetPodRootThrough(dir, *userns); !s.ok())
        return fail(s);
    }
  }
  absl::StatusOr<std::vector<Mount>> mounts = options_.snapshotter->Prepare(
      c.snapshot_key, image->top_chain_id.ToString(), {});
  if (!mounts.ok()) return fail(mounts.status());
  if (layers) {
    *mounts = ThroughIdmappedLayers(*mounts, *layers);
    if (std::optional<std::pair<uint32_t, uint32_t>> root =
            PodRootOnHost(*userns)) {
      if (absl::Status s = GiveUpperDir(*mounts, root->first, root->second);
          !s.ok()) {
        return fail(s);
      }
    }
  }
  if (absl::Status s = MountAll(*mounts, c.rootfs); !s.ok()) return fail(s);
  mounted = true;
  failpoint::Hit("CreateContainer.rootfs");

  ContainerSpecContext ctx;
  ctx.container_id = c.id;
  ctx.rootfs = c.rootfs;
  ctx.volumes_dir = own_dir + "/volumes";
  for (const auto& [index, parent] : volume_parents) {
    absl::StatusOr<std::string> source = MountImageVolume(
        *options_.snapshotter, ImageVolumeKey(c.id, index), parent, mounts_dir,
        index, config.mounts(index).image_sub_path(),
        layers ? &*layers : nullptr);
    if (!source.ok()) {
      return fail(absl::Status(
          source.status().code(),
          absl::StrCat("mount of ", config.mounts(index).container_path(), ": ",
                       source.status().message())));
    }
    ctx.image_volume_sources[index] = *source;
  }
  ctx.cgroup_parent = pod_config.linux().cgroup_parent();
  ctx.systemd_cgroup = options_.systemd_cgroup;
  ctx.min_oom_score_adj = options_.min_oom_score_adj;
  ctx.pod_pidns_path = pod.pidns_path;
  static const std::vector<std::string>* own_caps =
      new std::vector<std::string>(spec::OwnEffectiveCapabilities());
  ctx.daemon_capabilities = *own_caps;
  ctx.cdi_spec_dirs = options_.cdi_spec_dirs;
  absl::StatusOr<spec::ContainerSpecInput> input =
      ContainerSpecFor(config, pod, pod_config, image->config, ctx);
  if (!input.ok()) return fail(input.status());
  if (absl::Status s = PrepareBindSources(*input, mounts_dir, userns_fd);
      !s.ok()) {
    return fail(s);
  }
  c.user = RecordedIds(input->user);
  absl::StatusOr<std::string> spec_json = spec::BuildSpec(*input);
  if (!spec_json.ok()) return fail(spec_json.status());
  if (absl::Status s = WriteFile(c.bundle + "/config.json", *spec_json);
      !s.ok()) {
    return fail(s);
  }
  if (!c.log_path.empty()) {
    // The kubelet's log directory: 0755 as the kubelet itself makes it.
    fs::path dir = fs::path(c.log_path).parent_path();
    fs::create_directories(dir, ec);
    fs::permissions(dir, fs::perms(0755), ec);
  }
  absl::StatusOr<ShimRef> shim = options_.shims->Get(pod.id);
  if (!shim.ok()) {
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "the pod's shim is not running: ", shim.status().message())));
  }
  shim::CreateRequest create;
  create.id = c.id;
  create.bundle = c.bundle;
  create.tty = config.tty();
  create.stdin = config.stdin();
  create.stdin_once = config.stdin_once();
  create.log_path = c.log_path;
  absl::StatusOr<int> pid = (*shim)->Create(create);
  if (!pid.ok()) return fail(pid.status());
  failpoint::Hit("CreateContainer.shim");
  c.pid = *pid;
  if (absl::Status s = options_.containers->Mutate(c.id,
                                                   [&](CriContainer& x) {
                                                     x.pid = *pid;
                                                     x.user = c.user;
                                                   });
      !s.ok()) {
    LOG(WARNING) << "container=" << c.id << " record update: " << s;
  }
  LOG(INFO) << "pod=" << pod.id << " container=" << c.id << " (" << c.name
            << ") created from " << c.image_name;
  PublishContainerEvent(c.id, pod.id, runtime::v1::CONTAINER_CREATED_EVENT);
  response->set_container_id(c.id);
  return grpc::Status::OK;
}

}  // namespace cradle
