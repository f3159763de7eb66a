// Pod sandboxes the daemon knows: an in-memory index over one JSON record
// per sandbox under <root>/cri/sandboxes/, written atomically so a daemon
// killed at any point restarts with every sandbox it had acknowledged.
#ifndef CRADLE_CRI_STORE_SANDBOX_STORE_H_
#define CRADLE_CRI_STORE_SANDBOX_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cri/store/state.h"

namespace cradle {

struct PodRecord {
  std::string id;
  std::string name;  // metadata.name
  std::string pod_namespace;
  std::string uid;
  uint32_t attempt = 0;
  // Written CREATING before RunPodSandbox's first side effect (state.h).
  PodState state = PodState::kCreating;
  bool ready() const { return state == PodState::kReady; }
  absl::Time created_at;
  std::string config;  // the CRI PodSandboxConfig, serialized
  std::string runtime_handler;
  std::string pod_dir;     // <state>/pods/<id>
  std::string netns_path;  // empty for host network
  std::string ipcns_path;  // empty for host IPC
  std::string utsns_path;  // empty for host UTS
  // The pod's own user namespace (owning its net, UTS and IPC ones); empty
  // when it runs in the host's. Its maps are in the stored config.
  std::string userns_path;
  std::string shm_path;  // the pod's /dev/shm
  // The pod's shared PID namespace (/proc/<infra pid>/ns/pid), when its
  // containers share one; empty otherwise.
  std::string pidns_path;
  int infra_pid = 0;
  std::vector<std::string> ips;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;

  // The CRI's reservation key: one sandbox per name+namespace+uid+attempt.
  std::string ReservationKey() const;
};

// Thread-safe. Lookups are by full id or unique id prefix.
class SandboxStore {
 public:
  static absl::StatusOr<std::unique_ptr<SandboxStore>> Open(
      const std::string& dir);

  // AlreadyExists (naming the holder) when the reservation key is taken.
  absl::Status Add(const PodRecord& record);
  // Replaces the record; FailedPrecondition (nothing written) when its
  // state may not follow the stored one (state.h).
  absl::Status Update(const PodRecord& record);
  // Read-modify-write, serialized with every other write, checked against
  // the state machine and persisted before the in-memory copy changes.
  // `change` must not call back into the store.
  absl::Status Mutate(const std::string& id,
                      absl::FunctionRef<void(PodRecord&)> change,
                      PodRecord* out = nullptr);
  absl::Status Remove(const std::string& id);
  // NotFound, or InvalidArgument when a prefix is ambiguous.
  absl::StatusOr<PodRecord> Get(const std::string& id_or_prefix);
  std::vector<PodRecord> List();

 private:
  explicit SandboxStore(std::string dir) : dir_(std::move(dir)) {}
  absl::Status Persist(const PodRecord& record);
  absl::StatusOr<std::string> Resolve(const std::string& id_or_prefix)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  // Writers hold write_mu_ across the disk write, so they apply in the
  // order they persist; mu_ guards the maps only briefly, so readers
  // (status and list calls) never wait on a fsync.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  std::map<std::string, PodRecord> by_id_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> reservations_ ABSL_GUARDED_BY(mu_);
};

// Full id or unique prefix of `id_or_prefix` among `ids`.
absl::StatusOr<std::string> ResolveIdPrefix(const std::vector<std::string>& ids,
                                            const std::string& id_or_prefix,
                                            const std::string& kind);

}  // namespace cradle

#endif  // CRADLE_CRI_STORE_SANDBOX_STORE_H_
