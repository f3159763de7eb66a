// CRI containers the daemon knows: an in-memory index over one metadata
// ContainerRecord per container (namespace k8s.io). The record names the
// container's snapshot, so the garbage collector keeps its root filesystem
// for as long as the container exists.
#ifndef CRADLE_CRI_STORE_CONTAINER_STORE_H_
#define CRADLE_CRI_STORE_CONTAINER_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cri/store/state.h"
#include "metadata/metadata.h"

namespace cradle {

struct CriContainer {
  // CRI ContainerState values (cri/store/state.h draws the machine).
  using State = ContainerState;
  static constexpr State kCreated = ContainerState::kCreated;
  static constexpr State kRunning = ContainerState::kRunning;
  static constexpr State kExited = ContainerState::kExited;
  static constexpr State kUnknown = ContainerState::kUnknown;

  std::string id;
  std::string pod_id;
  std::string name;  // metadata.name
  uint32_t attempt = 0;
  absl::Time created_at;
  std::string config;      // the CRI ContainerConfig, serialized
  std::string image_id;    // "sha256:<config digest>"
  std::string image_name;  // what the request named (for status)
  std::string image_ref;   // a repo digest when known, else the id
  std::string log_path;    // absolute; empty when the pod has no log dir
  std::string bundle;      // holds config.json
  std::string rootfs;      // where the snapshot is mounted
  std::string snapshotter;
  std::string snapshot_key;
  // The effective stop signal: ContainerConfig.stop_signal's enum name when
  // set, else the image's STOPSIGNAL ("SIGQUIT", "3"), else "".
  std::string stop_signal;
  // The ids the spec starts the container's process with, which
  // ContainerStatus.user reports while it does not run. Unset in records
  // written before they were kept (and until the spec is built).
  struct UserIds {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> supplemental_groups;
  };
  std::optional<UserIds> user;
  // Images mounted as volumes (Mount.image), each through a read-only view
  // snapshot of the container's snapshotter. The record names the views so
  // the garbage collector keeps them, and RemoveImage sees the images used.
  struct ImageVolume {
    std::string image_id;  // "sha256:<config digest>"
    std::string snapshot_key;
    std::string container_path;
  };
  std::vector<ImageVolume> image_volumes;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;

  // Last known state, refreshed from the shim.
  State state = kCreated;
  int pid = 0;
  absl::Time started_at = absl::UnixEpoch();
  absl::Time finished_at = absl::UnixEpoch();
  int32_t exit_code = 0;
  std::string reason;
  std::string message;

  // The CRI's reservation key: one container per pod+name+attempt.
  std::string ReservationKey() const;
};

// Thread-safe. Lookups are by full id or unique id prefix.
class ContainerStore {
 public:
  static absl::StatusOr<std::unique_ptr<ContainerStore>> Open(
      MetadataStore* metadata, std::string ns);

  // AlreadyExists (naming the holder) when the reservation key is taken.
  absl::Status Add(const CriContainer& container);
  // Replaces the record; FailedPrecondition (nothing written) when its
  // state may not follow the stored one (state.h).
  absl::Status Update(const CriContainer& container);
  // Read-modify-write serialized with every other write, so an exit event
  // and an RPC never overwrite each other (`change` must not call back into
  // the store): `change` edits the stored copy, the result
  // is checked against the state machine and persisted, then kept. The
  // record as it now stands goes to `out` when given. NotFound when gone.
  absl::Status Mutate(const std::string& id,
                      absl::FunctionRef<void(CriContainer&)> change,
                      CriContainer* out = nullptr);
  absl::Status Remove(const std::string& id);
  // NotFound, or InvalidArgument when a prefix is ambiguous.
  absl::StatusOr<CriContainer> Get(const std::string& id_or_prefix);
  std::vector<CriContainer> List();
  // The containers of one pod sandbox.
  std::vector<CriContainer> ListInPod(const std::string& pod_id);

 private:
  ContainerStore(MetadataStore* metadata, std::string ns)
      : metadata_(metadata), ns_(std::move(ns)) {}
  absl::Status Persist(const CriContainer& c, MetadataBatch::Action action);

  MetadataStore* const metadata_;
  const std::string ns_;
  // Writers hold write_mu_ across the metadata write, so they apply in the
  // order they persist; mu_ guards the maps only briefly, so readers never
  // wait on a LevelDB sync.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  std::map<std::string, CriContainer> by_id_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> reservations_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cradle

#endif  // CRADLE_CRI_STORE_CONTAINER_STORE_H_
