// CheckpointContainer: a forensic checkpoint through the OCI runtime's
// CRIU support, written as one archive (checkpoint_archive.h). The
// container keeps running whether or not the dump succeeds.
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cri/runtime/checkpoint_archive.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"
#include "glog/logging.h"
#include "lite/absl_status.h"
#include "lite/files.h"
#include "mount/mount.h"
#include "runc_driver/runc.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

// The overlay upper dir of the container's snapshot: its writable layer.
std::string UpperDir(const std::vector<Mount>& mounts) {
  for (const Mount& m : mounts) {
    for (const std::string& o : m.options) {
      if (absl::StartsWith(o, "upperdir=")) return o.substr(9);
    }
  }
  return "";
}

grpc::Status Fail(const CriContainer& c, const absl::Status& s) {
  LOG(ERROR) << "pod=" << c.pod_id << " container=" << c.id
             << " checkpoint failed: " << s;
  return ToGrpc(absl::Status(
      s.code(), absl::StrCat("CheckpointContainer ", c.id, ": ", s.message())));
}

}  // namespace

grpc::Status RuntimeService::CheckpointContainer(
    grpc::ServerContext*,
    const runtime::v1::CheckpointContainerRequest* request,
    runtime::v1::CheckpointContainerResponse*) {
  const std::string& location = request->location();
  if (location.empty() || !fs::path(location).is_absolute()) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("CheckpointContainer: location \"", location,
                     "\" must be an absolute path for the archive"));
  }
  CriContainer c;
  if (grpc::Status s =
          FindRunning("CheckpointContainer", request->container_id(), &c);
      !s.ok()) {
    return s;
  }
  // CRIU's images and logs go to a private work dir, removed in any case:
  // only the finished archive is ever seen at `location`.
  std::string base = absl::StrCat(options_.root_dir, "/cri/checkpoints");
  if (int err = lite::MakeDirs(base); err != 0) {
    return Fail(c, absl::InternalError(
                       absl::StrCat("create ", base, ": ", strerror(err))));
  }
  std::string work = absl::StrCat(base, "/", c.id, "-XXXXXX");
  if (mkdtemp(work.data()) == nullptr) {
    return Fail(c, absl::InternalError(
                       absl::StrCat("create ", work, ": ", strerror(errno))));
  }
  absl::Cleanup remove_work = [&] {
    std::error_code ec;
    fs::remove_all(work, ec);
  };
  RuncCheckpointOptions options;
  options.image_path = work + "/images";
  options.work_path = work + "/work";
  options.leave_running = true;
  std::error_code ec;
  fs::create_directories(options.image_path, ec);
  fs::create_directories(options.work_path, ec);
  if (ec)
    return Fail(c, absl::InternalError("create " + work + ": " + ec.message()));

  LOG(INFO) << "pod=" << c.pod_id << " container=" << c.id
            << " checkpointing to " << location;
  // The dump runs as long as the caller allows (CRI: seconds, 0 for no
  // say), not under the short limit of the other runc calls: CRIU writes
  // all of the container's memory. Capped so seconds -> ms cannot overflow.
  constexpr int64_t kMaxTimeoutSeconds = int64_t{7} * 24 * 3600;
  std::chrono::milliseconds timeout = kDefaultCheckpointTimeout;
  if (request->timeout() > 0) {
    timeout = std::chrono::seconds(
        std::min<int64_t>(request->timeout(), kMaxTimeoutSeconds));
  }
  // The one call into the OCI runtime.
  absl::Status dumped =
      lite::ToAbsl(RuncFor(c.id).Checkpoint(c.id, options, timeout));
  if (!dumped.ok()) {
    // CRIU could not dump it here (kernel, configuration): the container
    // was left as it was; the caller can act on CRIU's reason.
    if (absl::IsNotFound(dumped)) {
      dumped = absl::FailedPreconditionError(
          absl::StrCat("the runtime no longer has it: ", dumped.message()));
    }
    return Fail(c, dumped);
  }

  CheckpointFiles files;
  files.criu_images_dir = options.image_path;
  files.work_dir = options.work_path;
  std::string handler = "runc";
  if (absl::StatusOr<PodRecord> pod = options_.sandboxes->Get(c.pod_id);
      pod.ok() && !pod->runtime_handler.empty()) {
    handler = pod->runtime_handler;
  }
  files.config_dump = CheckpointConfigDump(c, handler, absl::Now());
  files.spec_dump = lite::ReadFileOrEmpty(c.bundle + "/config.json");
  absl::StatusOr<std::vector<Mount>> mounts =
      options_.snapshotter->Mounts(c.snapshot_key);
  if (!mounts.ok()) return Fail(c, mounts.status());
  files.upper_dir = UpperDir(*mounts);
  if (absl::Status s = WriteCheckpointArchive(files, location); !s.ok())
    return Fail(c, s);
  LOG(INFO) << "pod=" << c.pod_id << " container=" << c.id
            << " checkpointed to " << location;
  return grpc::Status::OK;
}

}  // namespace cradle
