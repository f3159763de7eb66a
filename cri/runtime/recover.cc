// What keeps the store true to what runs: the exit monitor's handlers, the
// cleanup of a dead shim, and the reconciliation pass at start.
#include <signal.h>

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cri/runtime/container_mounts.h"
#include "cri/runtime/runtime_service.h"
#include "glog/logging.h"
#include "lite/absl_status.h"
#include "mount/mount.h"
#include "namespaces/pinned.h"

namespace cradle {

namespace {

namespace fs = std::filesystem;

// cradle's pod and container ids: 64 lower-case hex digits (NewId).
bool LooksLikeOurId(const std::string& id) {
  if (id.size() != 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return !path.empty() && fs::exists(path, ec);
}

}  // namespace

void RuntimeService::OnShimExit(const std::string& pod_id,
                                const shim::ExitEvent& e) {
  if (e.id == pod_id) {
    // The pause process holds the pod's PID namespace: without it the pod
    // cannot run containers, as containerd marks a sandbox whose task left.
    // A pod still CREATING fails to become READY then.
    absl::Status s = SetPodNotReady(pod_id);
    if (!s.ok() && !absl::IsNotFound(s))
      LOG(WARNING) << "pod=" << pod_id << " infra exit not recorded: " << s;
    return;
  }
  RecordExit(e.id, e.exit_code, absl::FromUnixNanos(e.exited_at), e.oom_killed,
             "", "");
}

bool RuntimeService::OnShimSync(const std::string& pod_id, ShimClient* shim) {
  // What the store holds, and what is mid-create, before the shim is
  // asked: a create that ends during List is not taken as lost.
  std::vector<CriContainer> stored;
  for (const CriContainer& c : options_.containers->ListInPod(pod_id)) {
    if (!Creating(c.id)) stored.push_back(c);
  }
  absl::StatusOr<std::vector<shim::ContainerState>> listed = shim->List();
  if (!listed.ok()) {
    LOG(WARNING) << "pod=" << pod_id << " shim list: " << listed.status();
    return false;
  }
  std::map<std::string, shim::ContainerState> known;
  for (shim::ContainerState& s : *listed) known[s.id] = std::move(s);
  // The pause process left while nobody listened.
  if (auto infra = known.find(pod_id);
      infra != known.end() &&
      infra->second.status == shim::ContainerStatus::kStopped) {
    OnShimExit(pod_id, {pod_id, infra->second.pid, infra->second.exit_code,
                        infra->second.exited_at, false});
  }
  std::set<std::string> ours = {pod_id};
  for (const CriContainer& c : options_.containers->ListInPod(pod_id)) {
    ours.insert(c.id);
  }
  for (const CriContainer& c : stored) {
    if (c.state == CriContainer::kExited) continue;
    auto it = known.find(c.id);
    if (it != known.end()) {
      Learn(c, it->second);
    } else {
      // Recorded, but the shim never created it: the daemon died inside
      // CreateContainer. Nothing of it runs.
      LOG(WARNING) << "pod=" << pod_id << " container=" << c.id
                   << " unknown to its shim; recorded as exited";
      RecordExit(c.id, 255, absl::Now(), false, "Unknown",
                 "the container's shim does not know it");
    }
  }
  for (const auto& [id, s] : known) {
    if (ours.count(id)) continue;
    LOG(WARNING) << "pod=" << pod_id << " container=" << id
                 << " runs in the shim with no record; deleting it";
    (void)shim->Kill(id, SIGKILL, /*all=*/true);
    (void)shim->Wait(id, absl::Seconds(10));
    (void)shim->Delete(id);
  }
  return true;
}

void RuntimeService::ReapDeadShim(const std::string& pod_id) {
  // The lock covers what callers wait for (the records); the slow runc
  // deletes come after it, so status calls are not held behind them.
  absl::ReleasableMutexLock lock(&reap_mu_);
  absl::StatusOr<PodRecord> pod = options_.sandboxes->Get(pod_id);
  if (!pod.ok()) return;
  std::vector<CriContainer> containers = options_.containers->ListInPod(pod_id);
  bool all_exited = true;
  for (const CriContainer& c : containers) {
    all_exited = all_exited && c.state == CriContainer::kExited;
  }
  // Reaped already (Forget removed the socket): nothing left to do.
  if (pod->state == PodState::kNotReady && all_exited &&
      !Exists(options_.shims->SocketPath(pod_id))) {
    return;
  }
  LOG(WARNING) << "pod=" << pod_id
               << " shim is dead; cleaning up its containers through runc";
  std::vector<std::string> ids = {pod_id};
  for (const CriContainer& c : containers) ids.push_back(c.id);
  // Processes the shim left are orphans now: end them before anything of
  // theirs (rootfs, snapshot) goes.
  Runc& runc = *options_.handlers->ForRecord(pod->runtime_handler).runc;
  for (const std::string& id : ids) {
    (void)runc.Kill(id, SIGKILL, /*all=*/true);
  }
  for (const CriContainer& c : containers) {
    if (c.state == CriContainer::kExited) continue;
    // Proof before the record: runc calls an init stopped once it is a
    // zombie. Its exit code went with the shim unless the shim wrote it.
    (void)RuncInitEnded(c.id, absl::Seconds(2));
    RecordLastExit(*pod, c, "its shim died before recording an exit");
  }
  (void)SetPodNotReady(pod_id);
  // Without its socket the pod counts as reaped (see above).
  options_.shims->Forget(pod_id, ShimCgroup(*pod));
  lock.Release();
  // The slow part last: delete --force waits until init has reaped the
  // orphans, then removes runc's state and the cgroups.
  for (const std::string& id : ids) {
    lite::Status deleted = runc.Delete(id, /*force=*/true);
    if (!deleted.ok() && !lite::IsNotFound(deleted)) {
      LOG(WARNING) << "pod=" << pod_id << " container=" << id
                   << " runc delete --force: " << deleted.message();
    }
  }
  for (const CriContainer& c : containers) (void)UnmountAll(c.rootfs);
}

void RuntimeService::Recover() {
  std::set<std::string> known_ids;
  for (PodRecord r : options_.sandboxes->List()) {
    known_ids.insert(r.id);
    if (!Exists(r.pod_dir)) {
      // A reboot, or a state dir on tmpfs that went: nothing of the pod
      // runs, but its IP is still reserved.
      LOG(WARNING) << "pod=" << r.id
                   << " state dir is gone (reboot?); containers exited, "
                      "network released";
      for (const CriContainer& c : options_.containers->ListInPod(r.id)) {
        RecordExit(c.id, 255, absl::Now(), false, "Unknown",
                   "the node restarted");
      }
      if (absl::Status s = StopSandbox(r); !s.ok()) {
        LOG(WARNING) << "pod=" << r.id << " stop after reboot: " << s;
      }
      options_.shims->Forget(r.id, ShimCgroup(r));
      continue;
    }
    if (options_.shims->Gone(r.id)) {
      ReapDeadShim(r.id);
    } else {
      monitor_->Watch(r.id);
    }
    if (r.state == PodState::kCreating) {
      // RunPodSandbox never answered: undo what it built. The record stays
      // (NOTREADY) so the pod is listed and RemovePodSandbox frees it.
      LOG(WARNING) << "pod=" << r.id
                   << " was being created when the daemon stopped; undoing";
      absl::StatusOr<PodRecord> now = options_.sandboxes->Get(r.id);
      if (now.ok()) r = *now;
      if (absl::Status s = StopSandbox(r); !s.ok()) {
        LOG(WARNING) << "pod=" << r.id << " undo: " << s;
      }
    } else if (r.state == PodState::kReady && !r.netns_path.empty() &&
               !IsPinnedNamespace(r.netns_path)) {
      LOG(WARNING) << "pod=" << r.id
                   << " lost its network namespace; marked not ready";
      (void)options_.sandboxes->Mutate(
          r.id, [](PodRecord& p) { p.state = PodState::kNotReady; });
    }
  }
  for (const CriContainer& c : options_.containers->List()) {
    known_ids.insert(c.id);
  }
  // runc state no record owns: a container created by a daemon that died
  // before it could say so.
  for (const RuntimeHandler* h : options_.handlers->All()) {
    if (!h->runc) continue;
    lite::StatusOr<std::vector<RuncState>> all = h->runc->List();
    if (!all.ok()) continue;
    for (const RuncState& st : *all) {
      // A root an operator pointed at a shared dir may hold others' too.
      if (known_ids.count(st.id) || !LooksLikeOurId(st.id)) continue;
      LOG(WARNING) << "container=" << st.id << " known only to " << h->name
                   << "; deleting it";
      (void)h->runc->Kill(st.id, SIGKILL, /*all=*/true);
      (void)h->runc->Delete(st.id, /*force=*/true);
    }
  }
  // Pod dirs no record owns (their record went first).
  std::error_code ec;
  for (auto it = fs::directory_iterator(options_.state_dir + "/pods", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string id = it->path().filename().string();
    if (known_ids.count(id)) continue;
    LOG(WARNING) << "pod=" << id << " dir without a record; removing it";
    if (absl::Status s = UnmountBelow(it->path().string()); !s.ok()) {
      LOG(WARNING) << "pod=" << id << " left in place: " << s;
      continue;
    }
    std::error_code removed;
    fs::remove_all(it->path(), removed);
  }
  // Containers' own dirs no record owns: their mounts (image views, copies
  // of host paths) go first, so nothing is deleted through one.
  std::set<std::string> containers;
  for (const CriContainer& c : options_.containers->List())
    containers.insert(c.id);
  std::string own_dirs = options_.root_dir + "/cri/containers";
  for (auto it = fs::directory_iterator(own_dirs, ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string id = it->path().filename().string();
    if (containers.count(id)) continue;
    LOG(WARNING) << "container=" << id << " dir without a record; removing it";
    absl::Status s = UnmountBelow(it->path().string());
    if (s.ok()) s = RemoveIfNothingMounted(it->path().string());
    if (!s.ok()) LOG(WARNING) << "container=" << id << " left in place: " << s;
  }
}

}  // namespace cradle
