// The CRI RuntimeService: pod sandboxes, containers, exec, stats, status.
//
// One .cc file per RPC (or per closely related pair). RPCs this class does
// not override answer UNIMPLEMENTED with their name (see
// cri/server/call_interceptor.h).
#ifndef CRADLE_CRI_RUNTIME_RUNTIME_SERVICE_H_
#define CRADLE_CRI_RUNTIME_RUNTIME_SERVICE_H_

#include <signal.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "cgroups/stats.h"
#include "cri/api/runtime/v1/cri.h"
#include "cri/runtime/container_events.h"
#include "cri/runtime/exit_monitor.h"
#include "cri/runtime/pod_shims.h"
#include "cri/runtime/readiness.h"
#include "cri/runtime/runtime_handlers.h"
#include "cri/store/container_store.h"
#include "cri/store/sandbox_store.h"
#include "images/catalog.h"
#include "network/pod_network.h"
#include "runc_driver/runc.h"
#include "snapshots/snapshotter.h"
#include "streaming/server.h"

namespace cradle {

struct RuntimeServiceOptions {
  std::string runtime_version;  // cradle's release, e.g. "0.1.0"
  std::string config_json;      // effective config, for Status(verbose)
  std::unique_ptr<ReadinessCheck> runtime_ready;
  std::unique_ptr<ReadinessCheck> network_ready;
  SandboxStore* sandboxes = nullptr;     // not owned
  PodNetwork* network = nullptr;         // not owned
  std::string state_dir;                 // pods live in <state>/pods/<id>
  ContainerStore* containers = nullptr;  // not owned
  ImageCatalog* images = nullptr;        // not owned
  Snapshotter* snapshotter = nullptr;    // not owned
  std::string snapshotter_name;          // "overlayfs"
  // The snapshotter's root; its "snapshots" dir holds every layer.
  std::string snapshot_root;
  PodShims* shims = nullptr;  // not owned
  // What cradle's own mount copies can do on this kernel (probed at start;
  // every handler gets them, runc and crun need no support of their own).
  bool recursive_read_only_mounts = false;
  bool user_namespaces = false;
  // The OCI runtimes pods may ask for, each with the daemon's own driver
  // on the shims' root for when a shim cannot act: a shim that is stopped
  // or dead (kill, delete --force). Not owned.
  const RuntimeHandlers* handlers = nullptr;
  std::string root_dir;  // containers' own dirs: <root>/cri/containers/<id>
  bool systemd_cgroup = false;
  // The lowest oom_score_adj the daemon may hand out (see oom_score.h).
  int min_oom_score_adj = -1000;
  // The static pause binary that holds a pod's shared PID namespace.
  std::string pause_binary;
  // CDI spec dirs, lowest priority first, read at each CreateContainer
  // that asks for a CDI device.
  std::vector<std::string> cdi_spec_dirs;
  // Serves the URLs Exec, Attach and PortForward answer; not owned.
  streaming::Server* streaming = nullptr;
};

// What a pod's shim wrote down of a container (its state file), if any.
bool ReadRecordedState(const std::string& pod_dir, const std::string& id,
                       shim::ContainerState* state);

// Thread-safe: gRPC calls the handlers from many threads.
class RuntimeService final : public runtime::v1::RuntimeService::Service {
 public:
  explicit RuntimeService(RuntimeServiceOptions options);
  ~RuntimeService() override;

  // One reconciliation pass before serving: compares the records with the
  // shims, runc's state, mounts and the state dir, repairs what it can
  // (each repair logged with pod= / container=) and starts watching every
  // live shim. A pod caught CREATING, or whose state dir or shim is gone,
  // comes back NOTREADY with its network released.
  void Recover();

  grpc::Status Version(grpc::ServerContext* context,
                       const runtime::v1::VersionRequest* request,
                       runtime::v1::VersionResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context,
                      const runtime::v1::StatusRequest* request,
                      runtime::v1::StatusResponse* response) override;
  grpc::Status RuntimeConfig(
      grpc::ServerContext* context,
      const runtime::v1::RuntimeConfigRequest* request,
      runtime::v1::RuntimeConfigResponse* response) override;
  grpc::Status UpdateRuntimeConfig(
      grpc::ServerContext* context,
      const runtime::v1::UpdateRuntimeConfigRequest* request,
      runtime::v1::UpdateRuntimeConfigResponse* response) override;
  grpc::Status RunPodSandbox(
      grpc::ServerContext* context,
      const runtime::v1::RunPodSandboxRequest* request,
      runtime::v1::RunPodSandboxResponse* response) override;
  grpc::Status StopPodSandbox(
      grpc::ServerContext* context,
      const runtime::v1::StopPodSandboxRequest* request,
      runtime::v1::StopPodSandboxResponse* response) override;
  grpc::Status RemovePodSandbox(
      grpc::ServerContext* context,
      const runtime::v1::RemovePodSandboxRequest* request,
      runtime::v1::RemovePodSandboxResponse* response) override;
  grpc::Status PodSandboxStatus(
      grpc::ServerContext* context,
      const runtime::v1::PodSandboxStatusRequest* request,
      runtime::v1::PodSandboxStatusResponse* response) override;
  grpc::Status ListPodSandbox(
      grpc::ServerContext* context,
      const runtime::v1::ListPodSandboxRequest* request,
      runtime::v1::ListPodSandboxResponse* response) override;

  grpc::Status CreateContainer(
      grpc::ServerContext* context,
      const runtime::v1::CreateContainerRequest* request,
      runtime::v1::CreateContainerResponse* response) override;
  grpc::Status StartContainer(
      grpc::ServerContext* context,
      const runtime::v1::StartContainerRequest* request,
      runtime::v1::StartContainerResponse* response) override;
  grpc::Status StopContainer(
      grpc::ServerContext* context,
      const runtime::v1::StopContainerRequest* request,
      runtime::v1::StopContainerResponse* response) override;
  grpc::Status RemoveContainer(
      grpc::ServerContext* context,
      const runtime::v1::RemoveContainerRequest* request,
      runtime::v1::RemoveContainerResponse* response) override;
  grpc::Status ListContainers(
      grpc::ServerContext* context,
      const runtime::v1::ListContainersRequest* request,
      runtime::v1::ListContainersResponse* response) override;
  grpc::Status ContainerStatus(
      grpc::ServerContext* context,
      const runtime::v1::ContainerStatusRequest* request,
      runtime::v1::ContainerStatusResponse* response) override;
  grpc::Status UpdateContainerResources(
      grpc::ServerContext* context,
      const runtime::v1::UpdateContainerResourcesRequest* request,
      runtime::v1::UpdateContainerResourcesResponse* response) override;
  grpc::Status ReopenContainerLog(
      grpc::ServerContext* context,
      const runtime::v1::ReopenContainerLogRequest* request,
      runtime::v1::ReopenContainerLogResponse* response) override;
  grpc::Status ExecSync(grpc::ServerContext* context,
                        const runtime::v1::ExecSyncRequest* request,
                        runtime::v1::ExecSyncResponse* response) override;
  grpc::Status ContainerStats(
      grpc::ServerContext* context,
      const runtime::v1::ContainerStatsRequest* request,
      runtime::v1::ContainerStatsResponse* response) override;
  grpc::Status ListContainerStats(
      grpc::ServerContext* context,
      const runtime::v1::ListContainerStatsRequest* request,
      runtime::v1::ListContainerStatsResponse* response) override;
  grpc::Status PodSandboxStats(
      grpc::ServerContext* context,
      const runtime::v1::PodSandboxStatsRequest* request,
      runtime::v1::PodSandboxStatsResponse* response) override;
  grpc::Status ListPodSandboxStats(
      grpc::ServerContext* context,
      const runtime::v1::ListPodSandboxStatsRequest* request,
      runtime::v1::ListPodSandboxStatsResponse* response) override;
  grpc::Status Exec(grpc::ServerContext* context,
                    const runtime::v1::ExecRequest* request,
                    runtime::v1::ExecResponse* response) override;
  grpc::Status Attach(grpc::ServerContext* context,
                      const runtime::v1::AttachRequest* request,
                      runtime::v1::AttachResponse* response) override;
  grpc::Status PortForward(grpc::ServerContext* context,
                           const runtime::v1::PortForwardRequest* request,
                           runtime::v1::PortForwardResponse* response) override;

  // Newer CRI fields and Stream RPCs.
  // Each Stream* RPC sends what its List* counterpart answers for the same
  // filter, in messages of at most ~1 MiB / 1000 items
  // (cri/stream/chunked_list.h); an empty list sends no message.
  grpc::Status StreamPodSandboxes(
      grpc::ServerContext* context,
      const runtime::v1::StreamPodSandboxesRequest* request,
      grpc::ServerWriter<runtime::v1::StreamPodSandboxesResponse>* writer)
      override;
  grpc::Status StreamContainers(
      grpc::ServerContext* context,
      const runtime::v1::StreamContainersRequest* request,
      grpc::ServerWriter<runtime::v1::StreamContainersResponse>* writer)
      override;
  grpc::Status StreamContainerStats(
      grpc::ServerContext* context,
      const runtime::v1::StreamContainerStatsRequest* request,
      grpc::ServerWriter<runtime::v1::StreamContainerStatsResponse>* writer)
      override;
  grpc::Status StreamPodSandboxStats(
      grpc::ServerContext* context,
      const runtime::v1::StreamPodSandboxStatsRequest* request,
      grpc::ServerWriter<runtime::v1::StreamPodSandboxStatsResponse>* writer)
      override;
  // CRIU through the OCI runtime, the container left running; the archive
  // (checkpoint_archive.h) appears at `location` only when complete.
  // NotFound, FailedPrecondition (not running; CRIU cannot dump: its
  // reason), InvalidArgument (location empty or relative).
  grpc::Status CheckpointContainer(
      grpc::ServerContext* context,
      const runtime::v1::CheckpointContainerRequest* request,
      runtime::v1::CheckpointContainerResponse* response) override;

  // Pod metrics and pod resources.
  // cAdvisor-named metrics of ready pods and their running containers
  // (pod_metrics.cc; names and labels in metrics_builder.h), and in-place
  // pod resize onto the pod's cgroup parent (pod_resources.cc).
  grpc::Status ListMetricDescriptors(
      grpc::ServerContext* context,
      const runtime::v1::ListMetricDescriptorsRequest* request,
      runtime::v1::ListMetricDescriptorsResponse* response) override;
  grpc::Status ListPodSandboxMetrics(
      grpc::ServerContext* context,
      const runtime::v1::ListPodSandboxMetricsRequest* request,
      runtime::v1::ListPodSandboxMetricsResponse* response) override;
  grpc::Status StreamPodSandboxMetrics(
      grpc::ServerContext* context,
      const runtime::v1::StreamPodSandboxMetricsRequest* request,
      grpc::ServerWriter<runtime::v1::StreamPodSandboxMetricsResponse>* writer)
      override;
  // NotFound for an unknown pod, FailedPrecondition for a stopped one or a
  // limit the kernel refuses, InvalidArgument for a pod without a cgroup
  // parent or a value out of range.
  grpc::Status UpdatePodSandboxResources(
      grpc::ServerContext* context,
      const runtime::v1::UpdatePodSandboxResourcesRequest* request,
      runtime::v1::UpdatePodSandboxResourcesResponse* response) override;

  // Container events (GetContainerEvents).
  // Streams CREATED, STARTED, STOPPED and DELETED as they happen, each
  // with its pod's status and its containers' statuses, until the client
  // cancels, falls behind (RESOURCE_EXHAUSTED) or the daemon stops.
  grpc::Status GetContainerEvents(
      grpc::ServerContext* context,
      const runtime::v1::GetEventsRequest* request,
      grpc::ServerWriter<runtime::v1::ContainerEventResponse>* writer) override;
  // Ends every event stream (UNAVAILABLE) and refuses new ones. For the
  // daemon's shutdown, before the server drains its calls: the streams
  // never end by themselves, so they would hold the drain for its whole
  // grace period.
  void EndContainerEventStreams() { events_.Close(); }

 private:
  // Status of a pod and of a container as their records stand (no shim
  // call): what the status RPCs and the events both report.
  void FillPodSandboxStatus(const PodRecord& r,
                            runtime::v1::PodSandboxStatus* out);
  void FillContainerStatus(const CriContainer& c,
                           runtime::v1::ContainerStatus* out);
  // Publishes `type` for the container, with the statuses of `pod_id` as
  // the records stand. Cheap when nobody subscribes.
  void PublishContainerEvent(const std::string& id, const std::string& pod_id,
                             runtime::v1::ContainerEventType type)
      ABSL_LOCKS_EXCLUDED(events_mu_);
  void PublishContainerEventLocked(const std::string& id,
                                   const std::string& pod_id,
                                   runtime::v1::ContainerEventType type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(events_mu_);
  // `pod`'s status as given rather than as stored (nullptr: none).
  void PublishEventLocked(const std::string& id, const std::string& pod_id,
                          const PodRecord* pod,
                          runtime::v1::ContainerEventType type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(events_mu_);
  // The pod's own transitions, with their events for the pod itself
  // (container_id == pod id, as containerd sends them). Each holds
  // events_mu_ from the change to its events, so a pod's events keep
  // their order. READY: CREATED then STARTED (none before: a pod that
  // never became READY was never announced).
  absl::Status SetPodReady(const PodRecord& r) ABSL_LOCKS_EXCLUDED(events_mu_);
  // NOTREADY, from any state; STOPPED only when this call took it from
  // READY, so once per transition however many paths notice it.
  absl::Status SetPodNotReady(const std::string& pod_id,
                              PodRecord* out = nullptr)
      ABSL_LOCKS_EXCLUDED(events_mu_);
  // Drops the record, then DELETED with the status `r` had: the kubelet
  // ignores events without a pod status, and drops the pod's cache on
  // this one.
  absl::Status RemovePodRecord(const PodRecord& r)
      ABSL_LOCKS_EXCLUDED(events_mu_);
  // Called once, by whoever moved the record to EXITED (holding the lock
  // across the change): STOPPED, held back while StartContainer runs so
  // that it follows STARTED.
  void ContainerExited(const CriContainer& c)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(events_mu_);
  // Brackets the shim's start: STARTED (when `started`), then any STOPPED
  // held back meanwhile.
  void StartBegins(const std::string& id) ABSL_LOCKS_EXCLUDED(events_mu_);
  void StartEnds(const std::string& id, const std::string& pod_id, bool started)
      ABSL_LOCKS_EXCLUDED(events_mu_);
  // Serializes publishing (building statuses from the records, no shim
  // call), so each container's events keep their order. Taken before the
  // stores' locks: exits and removals change the record under it.
  absl::Mutex events_mu_;
  std::map<std::string, int> starting_ ABSL_GUARDED_BY(events_mu_);
  std::set<std::string> stop_held_ ABSL_GUARDED_BY(events_mu_);
  ContainerEvents events_;

 private:
  // The container's current state. While the pod's exit monitor is
  // subscribed the store is current; otherwise the shim is asked. A shim
  // that does not answer changes nothing (UNKNOWN is reported, not
  // stored); one proven dead is cleaned up (ReapDeadShim).
  CriContainer Refresh(CriContainer c);
  // Applies what the shim says of a container to its record.
  CriContainer Learn(const CriContainer& c, const shim::ContainerState& s);
  // Records the exit the pod's shim wrote to its state file, else 255
  // "Unknown" with `why_unknown`.
  void RecordLastExit(const PodRecord& pod, const CriContainer& c,
                      const std::string& why_unknown);
  // The daemon's driver of the OCI runtime of the pod that `id` (a pod, or
  // a container of one) belongs to.
  Runc& RuncFor(const std::string& id);
  // Waits up to `limit` for runc to call the container's init stopped (or
  // not know it); true when it did.
  bool RuncInitEnded(const std::string& id, absl::Duration limit);
  // Records an exit (no-op when one is recorded already).
  void RecordExit(const std::string& id, int exit_code, absl::Time at, bool oom,
                  const std::string& reason, const std::string& message);
  // The exit monitor's handlers.
  void OnShimExit(const std::string& pod_id, const shim::ExitEvent& e);
  bool OnShimSync(const std::string& pod_id, ShimClient* shim);
  // What containerd's runtime-v2 does for a dead shim: kill what is left
  // through runc, runc delete --force (state, cgroups), unmount the
  // rootfs, record each container EXITED (its recorded exit when the shim
  // wrote one, else 255 "Unknown"), the pod NOTREADY. Idempotent.
  void ReapDeadShim(const std::string& pod_id);
  // Stops the container through runc, for a shim that does not answer:
  // `signal` to its init and up to `grace` for it to end, then SIGKILL to
  // everything in it; returns once its init is gone or a zombie.
  absl::Status KillDirect(const std::string& id, int signal = SIGKILL,
                          absl::Duration grace = absl::ZeroDuration());
  // The container `id` names, refreshed; NotFound, or FailedPrecondition
  // (naming `rpc`) when it is not running.
  grpc::Status FindRunning(const char* rpc, const std::string& id,
                           CriContainer* out);
  // The pod `id` names; NotFound, or FailedPrecondition (naming `rpc`)
  // when it has been stopped.
  grpc::Status FindReadyPod(const char* rpc, const std::string& id,
                            PodRecord* out);
  // Signals the container (its image's stop signal, or SIGTERM), waits up
  // to `timeout`, then kills everything in it. Idempotent.
  absl::Status Stop(const CriContainer& c, absl::Duration timeout);
  // Stops if needed, deletes it from the shim, unmounts and drops its
  // snapshot and directories, forgets it. Idempotent.
  absl::Status Remove(const CriContainer& c);

  // The pod's infra process, only for pods whose containers share a PID
  // namespace: it holds the namespace while containers come and go.
  absl::Status StartInfra(PodRecord& r,
                          const runtime::v1::PodSandboxConfig& config);
  absl::Status StopInfra(const PodRecord& r);
  absl::Status RemoveInfra(const PodRecord& r);

  // The shim's own cgroup, beside the pod's containers: "<cgroup parent or
  // /cradle>/cradle-shim-<pod id prefix>". Empty with the systemd driver,
  // whose slices systemd owns.
  std::string ShimCgroup(const PodRecord& r) const;

  // Stops its containers and infra, detaches the pod's network (CNI DEL
  // from the cached ADD, even when the namespace is gone) and drops its
  // network namespace, then records NOTREADY. Idempotent from any state.
  absl::Status StopSandbox(PodRecord& record);
  // Everything RemovePodSandbox undoes besides containers and the
  // record: shim, namespaces, shm, mounts and the pod dir. Idempotent.
  absl::Status RemoveSandboxFiles(const PodRecord& record);

  // Stats of a container (cgroup usage only while it runs; `usage` gets
  // it), and of a pod with its containers.
  runtime::v1::ContainerStats StatsOf(const CriContainer& c,
                                      std::optional<CgroupStats>* usage);
  runtime::v1::PodSandboxStats PodStatsOf(const PodRecord& pod);
  // CPU time and, from the previous sample under `key`, cores in use.
  void FillCpu(const std::string& key, uint64_t usage_ns, int64_t now,
               runtime::v1::CpuUsage* cpu);

  // Whether CreateContainer is between writing the record and the shim's
  // create: such a record is not yet missing from its shim.
  bool Creating(const std::string& id);

  const RuntimeServiceOptions options_;
  absl::Mutex reap_mu_;  // one dead-shim cleanup at a time
  absl::Mutex creating_mu_;
  std::set<std::string> creating_ ABSL_GUARDED_BY(creating_mu_);
  const CgroupReader cgroups_ = CgroupReader::ForHost();
  struct CpuSample {
    uint64_t usage_ns = 0;
    int64_t at = 0;  // unix nanos
  };
  absl::Mutex cpu_samples_mu_;
  std::map<std::string, CpuSample> cpu_samples_
      ABSL_GUARDED_BY(cpu_samples_mu_);
  absl::Mutex pod_cidr_mu_;
  std::string pod_cidr_ ABSL_GUARDED_BY(pod_cidr_mu_);
  // Last: its threads call back into this object, so it goes first.
  std::unique_ptr<ExitMonitor> monitor_;
};

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_RUNTIME_SERVICE_H_
