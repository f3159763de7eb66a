// StartContainer, StopContainer, RemoveContainer, and the state refresh
// they share.
#include <signal.h>

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"
#include "glog/logging.h"
#include "lite/files.h"
#include "mount/mount.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

// "SIGQUIT", "QUIT" or "3"; SIGTERM when empty or unknown.
int StopSignal(const std::string& name) {
  int number = 0;
  if (absl::SimpleAtoi(name, &number) && number > 0 && number < NSIG)
    return number;
  std::string upper = absl::AsciiStrToUpper(name);
  if (!absl::StartsWith(upper, "SIG")) upper = "SIG" + upper;
  static const std::pair<const char*, int> kSignals[] = {
      {"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT},
      {"SIGKILL", SIGKILL}, {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2},
      {"SIGTERM", SIGTERM}, {"SIGSTOP", SIGSTOP}, {"SIGWINCH", SIGWINCH},
      {"SIGPWR", SIGPWR}};
  for (const auto& [n, v] : kSignals) {
    if (upper == n) return v;
  }
  return SIGTERM;
}

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

}  // namespace

CriContainer RuntimeService::Refresh(CriContainer c) {
  if (c.state == CriContainer::kExited) return c;  // final
  CriContainer before = c;
  absl::StatusOr<ShimClient*> shim = options_.shims->Get(c.pod_id);
  absl::StatusOr<shim::ContainerState> state =
      shim.ok() ? (*shim)->State(c.id)
                : absl::StatusOr<shim::ContainerState>(shim.status());
  if (state.ok()) {
    ApplyShimState(*state, &c);
  } else {
    shim::ContainerState recorded;
    absl::StatusOr<PodRecord> pod = options_.sandboxes->Get(c.pod_id);
    if (pod.ok() && ReadRecordedState(pod->pod_dir, c.id, &recorded) &&
        recorded.status == shim::ContainerStatus::kStopped) {
      ApplyShimState(recorded, &c);
    } else {
      // Neither the shim nor its record: the container is gone.
      c.state = CriContainer::kExited;
      c.exit_code = 255;
      c.reason = "Unknown";
      c.message = absl::StrCat("the container's shim is gone: ",
                               state.status().message());
      if (c.finished_at == absl::UnixEpoch()) c.finished_at = absl::Now();
    }
  }
  if (c.state != before.state || c.pid != before.pid) {
    (void)options_.containers->Update(c);
  }
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
  absl::StatusOr<ShimClient*> shim = options_.shims->Get(c.pod_id);
  if (!shim.ok()) return ToGrpc(shim.status());
  absl::StatusOr<shim::ContainerState> started = (*shim)->Start(c.id);
  if (!started.ok()) {
    c.state = CriContainer::kExited;
    c.exit_code = 128;
    c.reason = "StartError";
    c.message = std::string(started.status().message());
    c.finished_at = absl::Now();
    (void)options_.containers->Update(c);
    return ToGrpc(absl::Status(started.status().code(),
                               absl::StrCat("StartContainer ", c.id, ": ",
                                            started.status().message())));
  }
  ApplyShimState(*started, &c);
  (void)options_.containers->Update(c);
  LOG(INFO) << "pod=" << c.pod_id << " container=" << c.id << " started, pid "
            << c.pid;
  return grpc::Status::OK;
}

absl::Status RuntimeService::Stop(const CriContainer& found,
                                  absl::Duration timeout) {
  CriContainer c = Refresh(found);
  if (c.state == CriContainer::kExited) return absl::OkStatus();
  absl::StatusOr<ShimClient*> shim = options_.shims->Get(c.pod_id);
  if (!shim.ok()) return absl::OkStatus();  // Refresh marked it gone
  if (c.state == CriContainer::kRunning && timeout > absl::ZeroDuration()) {
    if (absl::Status s = (*shim)->Kill(c.id, StopSignal(c.stop_signal));
        !s.ok() && !absl::IsNotFound(s)) {
      return s;
    }
    absl::StatusOr<shim::ContainerState> done = (*shim)->Wait(c.id, timeout);
    if (done.ok()) {
      ApplyShimState(*done, &c);
      return options_.containers->Update(c);
    }
  }
  if (c.state == CriContainer::kCreated) {
    // Never started: nothing to signal; the shim's delete kills its init.
    return absl::OkStatus();
  }
  if (absl::Status s = (*shim)->Kill(c.id, SIGKILL, /*all=*/true);
      !s.ok() && !absl::IsNotFound(s)) {
    return s;
  }
  absl::StatusOr<shim::ContainerState> done =
      (*shim)->Wait(c.id, absl::Seconds(30));
  if (!done.ok()) return done.status();
  ApplyShimState(*done, &c);
  return options_.containers->Update(c);
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
  absl::StatusOr<ShimClient*> shim = options_.shims->Get(c.pod_id);
  if (shim.ok()) {
    absl::StatusOr<shim::ContainerState> deleted = (*shim)->Delete(c.id);
    if (!deleted.ok() && !absl::IsNotFound(deleted.status()))
      return deleted.status();
  }
  if (absl::Status s = UnmountAll(c.rootfs); !s.ok()) return s;
  absl::Status removed = options_.snapshotter->Remove(c.snapshot_key);
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  std::error_code ec;
  fs::remove_all(c.bundle, ec);
  fs::remove_all(absl::StrCat(options_.root_dir, "/cri/containers/", c.id), ec);
  if (absl::Status s = options_.containers->Remove(c.id); !s.ok()) return s;
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
