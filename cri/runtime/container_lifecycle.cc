// StartContainer, StopContainer, RemoveContainer, and the state refresh
// they share.
#include <signal.h>

#include <filesystem>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cri/runtime/container_mounts.h"
#include "cri/runtime/runtime_service.h"
#include "cri/runtime/stop_signal.h"
#include "cri/server/grpc_status.h"
#include "failpoint/failpoint.h"
#include "glog/logging.h"
#include "lite/absl_status.h"
#include "lite/files.h"
#include "mount/mount.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

// The recorded stop signal (the config's, else the image's); SIGTERM
// when empty or unknown.
int StopSignal(const std::string& name) { return StopSignalNumber(name); }

void ApplyShimState(const shim::ContainerState& s, CriContainer* c) {
  c->pid = s.pid;
  if (s.started_at != 0) c->started_at = absl::FromUnixNanos(s.started_at);
  switch (s.status) {
    case shim::ContainerStatus::kCreated:
      c->state = CriContainer::kCreated;
      break;
    case shim::ContainerStatus::kRunning:
    case shim::ContainerStatus::kPaused:
      c->state = CriContainer::kRunning;
      break;
    case shim::ContainerStatus::kStopped:
      c->state = CriContainer::kExited;
      c->exit_code = s.exit_code;
      c->finished_at = absl::FromUnixNanos(s.exited_at);
      c->reason = s.oom_killed       ? "OOMKilled"
                  : s.exit_code == 0 ? "Completed"
                                     : "Error";
      break;
    default:
      c->state = CriContainer::kUnknown;
  }
}

// A shim that answers this slowly is treated as not answering: status
// calls must stay quick for the kubelet.
constexpr absl::Duration kStateTimeout = absl::Seconds(2);

}  // namespace

// What the shim wrote down before it went away, if anything.
bool ReadRecordedState(const std::string& pod_dir, const std::string& id,
                       shim::ContainerState* state) {
  lite::StatusOr<shim::ContainerState> recorded =
      shim::Decode<shim::ContainerState>(
          lite::ReadFileOrEmpty(absl::StrCat(pod_dir, "/shim/", id, ".json")),
          "recorded state");
  if (!recorded.ok()) return false;
  *state = *std::move(recorded);
  return true;
}

CriContainer RuntimeService::Learn(const CriContainer& c,
                                   const shim::ContainerState& s) {
  // An exit the monitor recorded first is final; the shim's answer may
  // still bring the start time it lacked.
  auto apply = [&](CriContainer& x) {
    if (x.state == CriContainer::kExited) {
      if (x.started_at == absl::UnixEpoch() && s.started_at != 0)
        x.started_at = absl::FromUnixNanos(s.started_at);
      return;
    }
    ApplyShimState(s, &x);
  };
  CriContainer next = c;
  apply(next);
  if (next.state == CriContainer::kUnknown ||
      (next.state == c.state && next.pid == c.pid &&
       next.started_at == c.started_at)) {
    return next;  // nothing new worth a write
  }
  CriContainer stored;
  bool exited = false;  // by this call: it alone reports the stop
  // Held from the change to its event, so a DELETED cannot come between.
  absl::MutexLock events_lock(&events_mu_);
  absl::Status updated = options_.containers->Mutate(
      c.id,
      [&](CriContainer& x) {
        bool was_exited = x.state == CriContainer::kExited;
        apply(x);
        exited = !was_exited && x.state == CriContainer::kExited;
      },
      &stored);
  if (!updated.ok()) {
    VLOG(1) << "container=" << c.id
            << " state from the shim not kept: " << updated;
    return options_.containers->Get(c.id).value_or(c);
  }
  if (exited) ContainerExited(stored);
  return stored;
}

void RuntimeService::RecordExit(const std::string& id, int exit_code,
                                absl::Time at, bool oom,
                                const std::string& reason,
                                const std::string& message) {
  CriContainer stored;
  bool changed = false;
  // Held from the change to its event, so a DELETED cannot come between.
  absl::MutexLock events_lock(&events_mu_);
  absl::Status s = options_.containers->Mutate(
      id,
      [&](CriContainer& c) {
        if (c.state == CriContainer::kExited) return;
        changed = true;
        c.state = CriContainer::kExited;
        c.exit_code = exit_code;
        c.finished_at = at;
        c.reason = !reason.empty()  ? reason
                   : oom            ? "OOMKilled"
                   : exit_code == 0 ? "Completed"
                                    : "Error";
        c.message = message;
      },
      &stored);
  if (!s.ok() && !absl::IsNotFound(s)) {
    LOG(ERROR) << "container=" << id << " exit not recorded: " << s;
  } else if (changed) {
    LOG(INFO) << "pod=" << stored.pod_id << " container=" << id
              << " exited with " << exit_code << " (" << stored.reason << ")";
    ContainerExited(stored);
  }
}

void RuntimeService::RecordLastExit(const PodRecord& pod, const CriContainer& c,
                                    const std::string& why_unknown) {
  shim::ContainerState recorded;
  if (ReadRecordedState(pod.pod_dir, c.id, &recorded) &&
      recorded.status == shim::ContainerStatus::kStopped) {
    Learn(c, recorded);  // its code, times and OOM as the shim wrote them
  } else {
    RecordExit(c.id, 255, absl::Now(), false, "Unknown", why_unknown);
  }
}

bool RuntimeService::RuncInitEnded(const std::string& id,
                                   absl::Duration limit) {
  // runc reports a zombie init as stopped: dead, its exit not yet reaped
  // by a shim that cannot run.
  absl::Time deadline = absl::Now() + limit;
  do {
    lite::StatusOr<RuncState> st = RuncFor(id).State(id);
    if (!st.ok() || st->status == "stopped") return true;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < deadline);
  return false;
}

CriContainer RuntimeService::Refresh(CriContainer c) {
  if (c.state == CriContainer::kExited) return c;  // final
  // The monitor applies every exit as the shim records it; a start it
  // does not report (one answered too late) is asked for.
  if (c.state != CriContainer::kCreated && monitor_->Subscribed(c.pod_id))
    return c;
  // Read before asking: a create that ends during the call still counts.
  bool creating = Creating(c.id);
  absl::StatusOr<ShimRef> shim = options_.shims->Get(c.pod_id);
  absl::StatusOr<shim::ContainerState> state =
      shim.ok() ? (*shim)->State(c.id, kStateTimeout)
                : absl::StatusOr<shim::ContainerState>(shim.status());
  if (state.ok()) return Learn(c, *state);
  if (absl::IsNotFound(state.status()) && !creating) {
    // The shim runs but does not know it: it never got there (a daemon
    // killed inside CreateContainer) or was deleted; what it recorded
    // wins, else nothing ran.
    absl::StatusOr<PodRecord> pod = options_.sandboxes->Get(c.pod_id);
    if (pod.ok()) {
      RecordLastExit(*pod, c, "the container's shim does not know it");
    } else {
      RecordExit(c.id, 255, absl::Now(), false, "Unknown",
                 "the container's shim does not know it");
    }
    return options_.containers->Get(c.id).value_or(c);
  }
  if (options_.shims->Gone(c.pod_id)) {
    ReapDeadShim(c.pod_id);
    return options_.containers->Get(c.id).value_or(c);
  }
  // Slow or stopped: nothing is learned, so nothing is stored.
  VLOG(1) << "container=" << c.id
          << " state unknown: " << state.status().message();
  c.state = CriContainer::kUnknown;
  return c;
}

grpc::Status RuntimeService::StartContainer(
    grpc::ServerContext*, const runtime::v1::StartContainerRequest* request,
    runtime::v1::StartContainerResponse*) {
  absl::StatusOr<CriContainer> found =
      options_.containers->Get(request->container_id());
  if (!found.ok()) return ToGrpc(found.status());
  CriContainer c = Refresh(*found);
  if (c.state != CriContainer::kCreated) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("StartContainer: container ", c.id, " is ",
                     runtime::v1::ContainerState_Name(
                         static_cast<runtime::v1::ContainerState>(c.state)),
                     ", not CREATED"));
  }
  absl::StatusOr<ShimRef> shim = options_.shims->Get(c.pod_id);
  if (!shim.ok()) return ToGrpc(shim.status());
  // An exit recorded while the shim starts it is reported after STARTED.
  bool started_ok = false;
  StartBegins(c.id);
  absl::Cleanup start_ended = [&] { StartEnds(c.id, c.pod_id, started_ok); };
  absl::StatusOr<shim::ContainerState> started = (*shim)->Start(c.id);
  if (ShimUnreachable(started.status())) {
    // No answer is no failure: the shim may start it yet. Only a dead
    // shim settles it.
    if (options_.shims->Gone(c.pod_id)) ReapDeadShim(c.pod_id);
    return ToGrpc(absl::Status(started.status().code(),
                               absl::StrCat("StartContainer ", c.id, ": ",
                                            started.status().message())));
  }
  if (absl::IsFailedPrecondition(started.status())) {
    // Not CREATED in the shim: an earlier start it answered too late.
    if (absl::StatusOr<shim::ContainerState> now = (*shim)->State(c.id);
        now.ok()) {
      Learn(c, *now);
    }
  } else if (!started.ok()) {
    RecordExit(c.id, 128, absl::Now(), false, "StartError",
               std::string(started.status().message()));
  }
  if (!started.ok()) {
    return ToGrpc(absl::Status(started.status().code(),
                               absl::StrCat("StartContainer ", c.id, ": ",
                                            started.status().message())));
  }
  failpoint::Hit("StartContainer.started");
  c = Learn(c, *started);
  started_ok = true;
  LOG(INFO) << "pod=" << c.pod_id << " container=" << c.id << " started, pid "
            << c.pid;
  return grpc::Status::OK;
}

absl::Status RuntimeService::KillDirect(const std::string& id, int signal,
                                        absl::Duration grace) {
  if (signal != SIGKILL && grace > absl::ZeroDuration()) {
    absl::Status asked = lite::ToAbsl(RuncFor(id).Kill(id, signal));
    if (absl::IsNotFound(asked)) return absl::OkStatus();
    if (asked.ok() && RuncInitEnded(id, grace)) return absl::OkStatus();
  }
  absl::Status killed =
      lite::ToAbsl(RuncFor(id).Kill(id, SIGKILL, /*all=*/true));
  if (!killed.ok() && !absl::IsNotFound(killed)) return killed;
  if (RuncInitEnded(id, absl::Seconds(10))) return absl::OkStatus();
  return absl::DeadlineExceededError(
      absl::StrCat("container ", id, " still runs after SIGKILL"));
}

absl::Status RuntimeService::Stop(const CriContainer& found,
                                  absl::Duration timeout) {
  CriContainer c = Refresh(found);
  if (c.state == CriContainer::kExited) return absl::OkStatus();
  if (c.state == CriContainer::kCreated) {
    // Never started: nothing to signal; the shim's delete kills its init.
    return absl::OkStatus();
  }
  // RUNNING, or UNKNOWN: a shim that does not answer.
  absl::StatusOr<ShimRef> shim = options_.shims->Get(c.pod_id);
  absl::Status reached = shim.status();
  // UNKNOWN: judged by what was stored.
  bool graceful =
      found.state == CriContainer::kRunning && timeout > absl::ZeroDuration();
  // A kill that is not answered in time reached a shim that is slow, not
  // stopped, when the shim still answers a ping: the signal is taken as
  // sent rather than sent twice.
  auto kill = [&](int signal, bool all) {
    absl::Status s = (*shim)->Kill(c.id, signal, all);
    if (absl::IsDeadlineExceeded(s) && (*shim)->Ping().ok()) {
      return absl::OkStatus();
    }
    return s;
  };
  if (shim.ok() && graceful) {
    reached = kill(StopSignal(c.stop_signal), false);
    if (!reached.ok() && !absl::IsNotFound(reached) &&
        !ShimUnreachable(reached))
      return reached;
    if (reached.ok()) {
      graceful = false;  // the grace period is spent below
      failpoint::Hit("StopContainer.signalled");
      absl::StatusOr<shim::ContainerState> done = (*shim)->Wait(c.id, timeout);
      if (done.ok()) {
        Learn(c, *done);
        return absl::OkStatus();
      }
    }
  }
  if (shim.ok() && !ShimUnreachable(reached)) {
    reached = kill(SIGKILL, /*all=*/true);
    if (!reached.ok() && !absl::IsNotFound(reached) &&
        !ShimUnreachable(reached))
      return reached;
  }
  if (!shim.ok() || ShimUnreachable(reached)) {
    if (options_.shims->Gone(c.pod_id)) {
      ReapDeadShim(c.pod_id);
      return absl::OkStatus();
    }
    // A stopped or wedged shim must not keep a container alive that the
    // kubelet means to replace: runc signals it, with the grace period
    // the shim did not get to give. The shim records the exit when it
    // runs again.
    LOG(WARNING) << "pod=" << c.pod_id << " container=" << c.id
                 << " shim does not answer (" << reached.message()
                 << "); stopping through runc";
    return graceful ? KillDirect(c.id, StopSignal(c.stop_signal), timeout)
                    : KillDirect(c.id);
  }
  absl::StatusOr<shim::ContainerState> done =
      (*shim)->Wait(c.id, absl::Seconds(30));
  if (!done.ok()) return done.status();
  Learn(c, *done);
  return absl::OkStatus();
}

grpc::Status RuntimeService::StopContainer(
    grpc::ServerContext*, const runtime::v1::StopContainerRequest* request,
    runtime::v1::StopContainerResponse*) {
  absl::StatusOr<CriContainer> c =
      options_.containers->Get(request->container_id());
  if (!c.ok()) return ToGrpc(c.status());
  absl::Status s =
      Stop(*c, absl::Seconds(std::max<int64_t>(0, request->timeout())));
  if (!s.ok()) {
    return ToGrpc(absl::Status(
        s.code(), absl::StrCat("StopContainer ", c->id, ": ", s.message())));
  }
  return grpc::Status::OK;
}

absl::Status RuntimeService::Remove(const CriContainer& c) {
  if (absl::Status s = Stop(c, absl::ZeroDuration()); !s.ok()) return s;
  absl::StatusOr<ShimRef> shim = options_.shims->Get(c.pod_id);
  absl::Status deleted =
      shim.ok() ? (*shim)->Delete(c.id).status() : shim.status();
  if (!deleted.ok() && !absl::IsNotFound(deleted)) {
    if (!options_.shims->Gone(c.pod_id)) return deleted;
    // The shim died: runc's state and cgroup go without it.
    ReapDeadShim(c.pod_id);
  }
  failpoint::Hit("RemoveContainer.shim");
  if (absl::Status s = UnmountAll(c.rootfs); !s.ok()) return s;
  // Before the snapshot: in a user-namespaced pod its overlay is mounted
  // below the container's own dir.
  std::string own_dir =
      absl::StrCat(options_.root_dir, "/cri/containers/", c.id);
  if (absl::Status s =
          ReleaseContainerMounts(*options_.snapshotter, c, own_dir + "/mounts");
      !s.ok()) {
    return s;
  }
  absl::Status removed = options_.snapshotter->Remove(c.snapshot_key);
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  failpoint::Hit("RemoveContainer.rootfs");
  if (absl::Status s = RemoveIfNothingMounted(own_dir); !s.ok()) return s;
  std::error_code ec;
  fs::remove_all(c.bundle, ec);
  {
    // After any STOPPED: exits are recorded and published under this lock.
    absl::MutexLock events_lock(&events_mu_);
    if (absl::Status s = options_.containers->Remove(c.id); !s.ok()) return s;
    PublishContainerEventLocked(c.id, c.pod_id,
                                runtime::v1::CONTAINER_DELETED_EVENT);
  }
  LOG(INFO) << "pod=" << c.pod_id << " container=" << c.id << " removed";
  return absl::OkStatus();
}

grpc::Status RuntimeService::RemoveContainer(
    grpc::ServerContext*, const runtime::v1::RemoveContainerRequest* request,
    runtime::v1::RemoveContainerResponse*) {
  absl::StatusOr<CriContainer> c =
      options_.containers->Get(request->container_id());
  if (absl::IsNotFound(c.status())) return grpc::Status::OK;  // idempotent
  if (!c.ok()) return ToGrpc(c.status());
  absl::Status s = Remove(*c);
  if (!s.ok()) {
    return ToGrpc(absl::Status(
        s.code(), absl::StrCat("RemoveContainer ", c->id, ": ", s.message())));
  }
  return grpc::Status::OK;
}

}  // namespace cradle
