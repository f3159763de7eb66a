#include "containerd_api/tasks_service.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cgroups/membership.h"
#include "containerd_api/api_context.h"
#include "containerd_api/event_exchange.h"
#include "containerd_api/mount_convert.h"
#include "containerd_api/proto/events/task.pb.h"
#include "containerd_api/proto/services/containers/v1/containers.pb.h"
#include "containerd_api/proto/services/tasks/v1/tasks.grpc.pb.h"
#include "containerd_api/proto/types/task/task.pb.h"
#include "containerd_api/task_metrics.h"
#include "containerd_api/task_paths.h"
#include "cri/store/container_store.h"
#include "glog/logging.h"
#include "lite/absl_status.h"
#include "lite/files.h"
#include "mount/mount.h"
#include "nlohmann/json.hpp"
#include "runc_driver/runc.h"
#include "shim/client/shim_client.h"

namespace cradle::containerd_api {
namespace {

namespace pb = ::containerd::services::tasks::v1;
namespace types = ::containerd::v1::types;
namespace events = ::containerd::events;

// Every task's files, under the daemon's state dir (tmpfs: a reboot ends
// tasks and their records alike):
//   <state>/containerd/tasks/<ns>/<id>/   the bundle: config.json, rootfs/,
//                                         task.json, shim/ (its state),
//                                         shim.log
//   <state>/containerd/s/<hash>           the shim's socket (kept short:
//                                         unix socket paths end at 108 bytes)
//   <state>/containerd/runc/<ns>          the runtime's root
constexpr char kTaskRecord[] = "task.json";

// What recovery needs of a task, written before its shim is launched.
struct TaskRecord {
  std::string ns;
  std::string id;
  std::string bundle;
  std::string socket;
  std::string runtime;  // containerd's name ("io.containerd.runc.v2")
  std::string runtime_binary;
  std::string runc_root;
  bool rootfs_mounted = false;  // we mounted <bundle>/rootfs
  std::string stdin_path, stdout_path, stderr_path;
  bool terminal = false;    // stdin and stdout carry a pty
  std::string shim_cgroup;  // the shim's own cgroup; empty: none made
};

nlohmann::json ToJson(const TaskRecord& r) {
  return {{"namespace", r.ns},       {"id", r.id},
          {"bundle", r.bundle},      {"socket", r.socket},
          {"runtime", r.runtime},    {"runtimeBinary", r.runtime_binary},
          {"runcRoot", r.runc_root}, {"rootfsMounted", r.rootfs_mounted},
          {"stdin", r.stdin_path},   {"stdout", r.stdout_path},
          {"stderr", r.stderr_path}, {"terminal", r.terminal},
          {"shimCgroup", r.shim_cgroup}};
}

absl::StatusOr<TaskRecord> TaskRecordFromJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return absl::DataLossError("task record is not JSON");
  TaskRecord r;
  try {
    r.ns = j.value("namespace", "");
    r.id = j.value("id", "");
    r.bundle = j.value("bundle", "");
    r.socket = j.value("socket", "");
    r.runtime = j.value("runtime", "");
    r.runtime_binary = j.value("runtimeBinary", "");
    r.runc_root = j.value("runcRoot", "");
    r.rootfs_mounted = j.value("rootfsMounted", false);
    r.stdin_path = j.value("stdin", "");
    r.stdout_path = j.value("stdout", "");
    r.stderr_path = j.value("stderr", "");
    r.terminal = j.value("terminal", false);
    r.shim_cgroup = j.value("shimCgroup", "");
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("task record: ", e.what()));
  }
  if (r.ns.empty() || r.id.empty() || r.bundle.empty() || r.socket.empty())
    return absl::DataLossError("task record lacks its names");
  return r;
}

// FNV-1a: a stable, short name for a task's socket.
std::string ShortHash(absl::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return absl::StrCat(absl::Hex(h, absl::kZeroPad16));
}

// The runtime a container record names: the Containers service keeps
// containerd's Container.Runtime, serialized, under this extension.
constexpr char kRuntimeExtension[] = "cradle.io/containerd.runtime";

std::string RuntimeNameOf(const ContainerRecord& record,
                          const std::string& fallback) {
  auto it = record.extensions.find(kRuntimeExtension);
  if (it == record.extensions.end()) return fallback;
  ::containerd::services::containers::v1::Container::Runtime runtime;
  if (!runtime.ParseFromString(it->second) || runtime.name().empty())
    return fallback;
  return runtime.name();
}

// The OCI spec of a record: a serialized Any holding the spec's JSON (as
// the Containers service stores it), or the JSON itself.
absl::StatusOr<nlohmann::json> SpecOf(const ContainerRecord& record) {
  nlohmann::json spec = nlohmann::json::parse(record.spec, nullptr, false);
  if (!spec.is_object()) {
    google::protobuf::Any any;
    if (any.ParseFromString(record.spec))
      spec = nlohmann::json::parse(any.value(), nullptr, false);
  }
  if (!spec.is_object()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "container ", record.id, " has no OCI runtime spec (JSON)"));
  }
  return spec;
}

types::Status StatusToProto(shim::ContainerStatus s) {
  switch (s) {
    case shim::ContainerStatus::kCreated:
      return types::CREATED;
    case shim::ContainerStatus::kRunning:
      return types::RUNNING;
    case shim::ContainerStatus::kStopped:
      return types::STOPPED;
    case shim::ContainerStatus::kPaused:
      return types::PAUSED;
    case shim::ContainerStatus::kUnknown:
      break;
  }
  return types::UNKNOWN;
}

absl::Time FromNanos(int64_t nanos) {
  return nanos == 0 ? absl::UnixEpoch() : absl::FromUnixNanos(nanos);
}

uint32_t ExitStatusOf(int exit_code) {
  return static_cast<uint32_t>(exit_code);
}

// A gRPC-side deadline loop slice: Wait asks the shim in slices so a
// client's cancel is seen within one.
constexpr absl::Duration kWaitSlice = absl::Seconds(1);

// An exec a client added but has not started: containerd's exec is
// created, then started.
struct PendingExec {
  shim::ProcessStart start;
  bool terminal = false;
};

// One task. Its shim is known by the record's socket; the client is made
// on first use (TasksService::ShimOf), so a shim that did not answer once
// (a daemon restart while it was busy) is found again on the next call.
// The task is dead only when ShimClient::Gone proves no shim serves it.
struct Task {
  TaskRecord record;
  absl::Mutex shim_mu;
  std::shared_ptr<ShimClient> shim ABSL_GUARDED_BY(shim_mu);
  absl::Mutex mu;
  std::map<std::string, PendingExec> pending ABSL_GUARDED_BY(mu);
  std::map<std::string, std::string> exec_stdio ABSL_GUARDED_BY(mu);
  // Set (under TasksService::mu_) by the one Delete in progress; cleared
  // again only when that Delete fails, so a task is deleted once.
  bool deleting = false;
  std::atomic<bool> deleted{false};
  std::atomic<bool> exit_published{false};
};

// The whole of a small file, or the errno: unlike lite::ReadFileOrEmpty,
// a file that is absent (ENOENT) and one that could not be read now are
// told apart, since only the first means "no task here".
int ReadSmallFile(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  out->clear();
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return err;
    }
    if (n == 0) break;
    out->append(buf, n);
  }
  close(fd);
  return 0;
}

class TasksService final : public pb::Tasks::Service, public Recoverable {
 public:
  explicit TasksService(const ContainerdApiDeps& deps)
      : deps_(deps), base_(deps.state + "/containerd") {}

  ~TasksService() override {
    stopping_ = true;
    absl::MutexLock lock(&watchers_mu_);
    for (Watcher& w : watchers_) {
      if (w.thread.joinable()) w.thread.join();
    }
  }

  void Recover() override;

  grpc::Status Create(grpc::ServerContext* ctx,
                      const pb::CreateTaskRequest* request,
                      pb::CreateTaskResponse* response) override {
    return ToGrpc(Guard([&] { return DoCreate(ctx, *request, response); }));
  }
  grpc::Status Start(grpc::ServerContext* ctx, const pb::StartRequest* request,
                     pb::StartResponse* response) override {
    return ToGrpc(Guard([&] { return DoStart(ctx, *request, response); }));
  }
  grpc::Status Delete(grpc::ServerContext* ctx,
                      const pb::DeleteTaskRequest* request,
                      pb::DeleteResponse* response) override {
    return ToGrpc(Guard([&] { return DoDelete(ctx, *request, response); }));
  }
  grpc::Status DeleteProcess(grpc::ServerContext* ctx,
                             const pb::DeleteProcessRequest* request,
                             pb::DeleteResponse* response) override {
    return ToGrpc(
        Guard([&] { return DoDeleteProcess(ctx, *request, response); }));
  }
  grpc::Status Get(grpc::ServerContext* ctx, const pb::GetRequest* request,
                   pb::GetResponse* response) override {
    return ToGrpc(Guard([&] { return DoGet(ctx, *request, response); }));
  }
  grpc::Status List(grpc::ServerContext* ctx,
                    const pb::ListTasksRequest* request,
                    pb::ListTasksResponse* response) override {
    return ToGrpc(Guard([&] { return DoList(ctx, *request, response); }));
  }
  grpc::Status Kill(grpc::ServerContext* ctx, const pb::KillRequest* request,
                    google::protobuf::Empty*) override {
    return ToGrpc(Guard([&] { return DoKill(ctx, *request); }));
  }
  grpc::Status Exec(grpc::ServerContext* ctx,
                    const pb::ExecProcessRequest* request,
                    google::protobuf::Empty*) override {
    return ToGrpc(Guard([&] { return DoExec(ctx, *request); }));
  }
  grpc::Status ResizePty(grpc::ServerContext* ctx,
                         const pb::ResizePtyRequest* request,
                         google::protobuf::Empty*) override {
    return ToGrpc(Guard([&] { return DoResizePty(ctx, *request); }));
  }
  grpc::Status CloseIO(grpc::ServerContext* ctx,
                       const pb::CloseIORequest* request,
                       google::protobuf::Empty*) override {
    return ToGrpc(Guard([&] { return DoCloseIO(ctx, *request); }));
  }
  grpc::Status Pause(grpc::ServerContext* ctx,
                     const pb::PauseTaskRequest* request,
                     google::protobuf::Empty*) override {
    return ToGrpc(Guard(
        [&] { return DoPauseResume(ctx, request->container_id(), true); }));
  }
  grpc::Status Resume(grpc::ServerContext* ctx,
                      const pb::ResumeTaskRequest* request,
                      google::protobuf::Empty*) override {
    return ToGrpc(Guard(
        [&] { return DoPauseResume(ctx, request->container_id(), false); }));
  }
  grpc::Status ListPids(grpc::ServerContext* ctx,
                        const pb::ListPidsRequest* request,
                        pb::ListPidsResponse* response) override {
    return ToGrpc(Guard([&] { return DoListPids(ctx, *request, response); }));
  }
  grpc::Status Checkpoint(grpc::ServerContext*,
                          const pb::CheckpointTaskRequest*,
                          pb::CheckpointTaskResponse*) override {
    return ToGrpc(absl::UnimplementedError(
        "cradle does not checkpoint containerd tasks (the CRI's "
        "CheckpointContainer does for CRI containers)"));
  }
  grpc::Status Update(grpc::ServerContext* ctx,
                      const pb::UpdateTaskRequest* request,
                      google::protobuf::Empty*) override {
    return ToGrpc(Guard([&] { return DoUpdate(ctx, *request); }));
  }
  // As containerd: every task of the namespace the filters select (ctr
  // sends "id==<id>"), each read from its cgroup. A task without one (not
  // created yet, deleted meanwhile) is left out, not an error; the client
  // then tells a missing task from one with no metrics. In k8s.io the CRI's
  // running containers are read too, from their bundles.
  grpc::Status Metrics(grpc::ServerContext* ctx,
                       const pb::MetricsRequest* request,
                       pb::MetricsResponse* response) override {
    return ToGrpc(Guard([&]() -> absl::Status {
      absl::StatusOr<std::string> ns = RequestNamespace(ctx);
      if (!ns.ok()) return ns.status();
      absl::StatusOr<Filter> filter =
          Filter::Parse({request->filters().begin(), request->filters().end()});
      if (!filter.ok()) return filter.status();
      // Said once for the call, not logged per task.
      if (HostCgroups().unified()) {
        return absl::UnimplementedError(
            "task metrics on a cgroup v2 host are not served yet; use "
            "crictl stats or read the task's cgroup");
      }
      std::vector<std::pair<std::string, std::string>> bundles;  // id, bundle
      {
        absl::MutexLock lock(&mu_);
        const std::string prefix = *ns + "/";
        for (auto it = tasks_.lower_bound(prefix);
             it != tasks_.end() &&
             it->first.compare(0, prefix.size(), prefix) == 0;
             ++it) {
          if (it->second != nullptr && !it->second->deleted) {
            bundles.emplace_back(it->second->record.id,
                                 it->second->record.bundle);
          }
        }
      }
      if (*ns == kCriNamespace && deps_.cri_containers != nullptr) {
        for (const CriContainer& c : deps_.cri_containers->List()) {
          if (c.state == CriContainer::kRunning)
            bundles.emplace_back(c.id, c.bundle);
        }
      }
      for (const auto& [id, bundle] : bundles) {
        if (!filter->Matches(
                FieldsAndLabels({{"id", id}, {"namespace", *ns}}, {}))) {
          continue;
        }
        absl::StatusOr<::containerd::types::Metric> metric = TaskMetric(
            id, BundleCgroupsPath(bundle), HostCgroups(), absl::Now());
        if (metric.ok()) {
          *response->add_metrics() = *std::move(metric);
        } else if (!absl::IsNotFound(metric.status())) {
          LOG(WARNING) << "metrics of task " << *ns << "/" << id << ": "
                       << metric.status();
        }
      }
      return absl::OkStatus();
    }));
  }
  grpc::Status Wait(grpc::ServerContext* ctx, const pb::WaitRequest* request,
                    pb::WaitResponse* response) override {
    return ToGrpc(Guard([&] { return DoWait(ctx, *request, response); }));
  }

 private:
  // No exception leaves a handler: one that escapes (out of memory, a
  // library's throw) becomes Internal.
  template <typename F>
  absl::Status Guard(F f) {
    return NoThrow("tasks", f);
  }

  static std::string Key(const std::string& ns, const std::string& id) {
    return absl::StrCat(ns, "/", id);
  }
  std::string BundleOf(const std::string& ns, const std::string& id) const {
    return TaskBundlePath(deps_.state, ns, id);
  }

  // FailedPrecondition when `id` is one of the CRI's containers.
  absl::Status RefuseCri(const std::string& ns, const std::string& id) {
    if (ns != kCriNamespace || deps_.cri_containers == nullptr)
      return absl::OkStatus();
    absl::StatusOr<CriContainer> c = deps_.cri_containers->Get(id);
    if (c.ok() && c->id == id) {
      return absl::FailedPreconditionError(
          absl::StrCat("container ", id, " is managed by the CRI; use crictl"));
    }
    return absl::OkStatus();
  }

  // The task's shim: the client made before, or one connected now.
  // FailedPrecondition when no shim serves the task any more (proven by
  // ShimClient::Gone: it died, or the task was deleted); Unavailable when
  // one may, but does not answer now.
  static absl::StatusOr<std::shared_ptr<ShimClient>> ShimOf(Task& task) {
    {
      absl::MutexLock lock(&task.shim_mu);
      if (task.shim != nullptr) return task.shim;
    }
    // Not under the lock: a hung shim must not stall the task's other
    // callers for a connect's timeout each.
    absl::StatusOr<std::unique_ptr<ShimClient>> connected =
        ShimClient::Connect(task.record.socket);
    if (!connected.ok()) {
      if (ShimClient::Gone(task.record.socket)) {
        return absl::FailedPreconditionError(
            absl::StrCat("task ", task.record.id,
                         " lost its shim (it died); only delete works"));
      }
      return absl::UnavailableError(absl::StrCat(
          "the shim of task ", task.record.id,
          " does not answer; try again: ", connected.status().message()));
    }
    absl::MutexLock lock(&task.shim_mu);
    if (task.shim == nullptr) {
      task.shim = std::move(*connected);
      LOG(INFO) << "task " << task.record.ns << "/" << task.record.id
                << " reconnected to its shim";
    }
    return task.shim;
  }

  // Whether the task's shim is proven dead: a call that failed on it means
  // the task stopped for good, not that its state is unknown.
  static bool ShimGone(const Task& task) {
    return ShimClient::Gone(task.record.socket);
  }

  absl::StatusOr<std::shared_ptr<Task>> Find(const std::string& ns,
                                             const std::string& id) {
    if (id.empty()) return absl::InvalidArgumentError("no container id");
    absl::MutexLock lock(&mu_);
    auto it = tasks_.find(Key(ns, id));
    if (it == tasks_.end() || it->second == nullptr) {  // or being created
      return absl::NotFoundError(
          absl::StrCat("no running task found: task ", id, " not found"));
    }
    return it->second;
  }

  // A task a call may change: not the CRI's, and present.
  absl::StatusOr<std::shared_ptr<Task>> Mutable(grpc::ServerContext* ctx,
                                                const std::string& id) {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ns.status();
    if (absl::Status s = RefuseCri(*ns, id); !s.ok()) return s;
    return Find(*ns, id);
  }

  template <typename Event>
  void Publish(const std::string& ns, const char* topic, const Event& e) {
    if (deps_.events != nullptr) deps_.events->Publish(ns, topic, e);
  }

  absl::Status DoCreate(grpc::ServerContext* ctx,
                        const pb::CreateTaskRequest& request,
                        pb::CreateTaskResponse* response);
  absl::Status DoStart(grpc::ServerContext* ctx,
                       const pb::StartRequest& request,
                       pb::StartResponse* response);
  absl::Status DoDelete(grpc::ServerContext* ctx,
                        const pb::DeleteTaskRequest& request,
                        pb::DeleteResponse* response);
  absl::Status DoDeleteProcess(grpc::ServerContext* ctx,
                               const pb::DeleteProcessRequest& request,
                               pb::DeleteResponse* response);
  absl::Status DoGet(grpc::ServerContext* ctx, const pb::GetRequest& request,
                     pb::GetResponse* response);
  absl::Status DoList(grpc::ServerContext* ctx,
                      const pb::ListTasksRequest& request,
                      pb::ListTasksResponse* response);
  absl::Status DoKill(grpc::ServerContext* ctx, const pb::KillRequest& request);
  absl::Status DoExec(grpc::ServerContext* ctx,
                      const pb::ExecProcessRequest& request);
  absl::Status DoCloseIO(grpc::ServerContext* ctx,
                         const pb::CloseIORequest& request);
  absl::Status DoResizePty(grpc::ServerContext* ctx,
                           const pb::ResizePtyRequest& request);
  absl::Status DoPauseResume(grpc::ServerContext* ctx, const std::string& id,
                             bool pause);
  absl::Status DoListPids(grpc::ServerContext* ctx,
                          const pb::ListPidsRequest& request,
                          pb::ListPidsResponse* response);
  absl::Status DoUpdate(grpc::ServerContext* ctx,
                        const pb::UpdateTaskRequest& request);
  absl::Status DoWait(grpc::ServerContext* ctx, const pb::WaitRequest& request,
                      pb::WaitResponse* response);

  // The task's process as the wire shows it.
  absl::Status Describe(Task& task, const std::string& exec_id,
                        types::Process* out);
  void DescribeCri(const CriContainer& c, types::Process* out);
  // Unmounts and removes a task's bundle; the record goes last, so a
  // failure here leaves the task for a later delete.
  absl::Status RemoveBundle(const TaskRecord& record);
  // Removes the shim's own cgroup once the shim has left it.
  void RemoveShimCgroup(const TaskRecord& record);
  // The task's runtime called directly, and the container's state as it
  // reports it: for when the shim is gone.
  static absl::StatusOr<std::unique_ptr<Runc>> RuntimeOf(
      const TaskRecord& record);
  static absl::StatusOr<RuncState> RuntimeState(const TaskRecord& record);
  // Publishes the init's exit once it comes (a thread per task; finished
  // ones are joined by the next Watch).
  void Watch(std::shared_ptr<Task> task);
  void PublishExit(Task& task, const shim::ContainerState& state);

  const ContainerdApiDeps& deps_;
  const std::string base_;
  std::atomic<bool> stopping_{false};

  absl::Mutex mu_;
  // "<ns>/<id>" -> task; a null entry is a task being created.
  std::map<std::string, std::shared_ptr<Task>> tasks_ ABSL_GUARDED_BY(mu_);

  struct Watcher {
    std::thread thread;
    // Set by the thread as its last act: joining it then cannot block.
    std::shared_ptr<std::atomic<bool>> done;
  };
  absl::Mutex watchers_mu_;
  std::list<Watcher> watchers_ ABSL_GUARDED_BY(watchers_mu_);
};

absl::Status TasksService::DoCreate(grpc::ServerContext* ctx,
                                    const pb::CreateTaskRequest& request,
                                    pb::CreateTaskResponse* response) {
  absl::StatusOr<std::string> ns_or = RequestNamespace(ctx);
  if (!ns_or.ok()) return ns_or.status();
  const std::string ns = *ns_or;
  const std::string& id = request.container_id();
  if (id.empty() || id.find('/') != std::string::npos || id == "." ||
      id == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid container id \"", id, "\""));
  }
  if (absl::Status s = RefuseCri(ns, id); !s.ok()) return s;
  if (request.has_checkpoint() && !request.checkpoint().digest().empty()) {
    return absl::UnimplementedError(
        "cradle does not restore containerd tasks from checkpoints");
  }
  absl::StatusOr<ContainerRecord> container =
      deps_.metadata->GetContainer(ns, id);
  if (!container.ok()) {
    if (absl::IsNotFound(container.status())) {
      return absl::NotFoundError(absl::StrCat(
          "container \"", id, "\" in namespace \"", ns, "\": not found"));
    }
    return container.status();
  }
  TaskRecord record;
  record.ns = ns;
  record.id = id;
  record.runtime = RuntimeNameOf(*container, deps_.default_runtime);
  auto runtime = deps_.runtimes.find(record.runtime);
  if (runtime == deps_.runtimes.end()) {
    std::vector<std::string> known;
    for (const auto& [name, binary] : deps_.runtimes) known.push_back(name);
    return absl::InvalidArgumentError(absl::StrCat(
        "runtime \"", record.runtime,
        "\" is not configured; known: ", absl::StrJoin(known, ", ")));
  }
  record.runtime_binary = runtime->second;
  absl::StatusOr<nlohmann::json> spec = SpecOf(*container);
  if (!spec.ok()) return spec.status();

  const std::string key = Key(ns, id);
  record.bundle = BundleOf(ns, id);
  record.socket = absl::StrCat(base_, "/s/", ShortHash(key));
  record.runc_root = absl::StrCat(base_, "/runc/", ns);
  record.stdin_path = request.stdin();
  record.stdout_path = request.stdout();
  record.stderr_path = request.stderr();
  record.terminal = request.terminal();
  // Like the CRI's pod shims: none of its own under systemd's driver.
  if (!deps_.systemd_cgroup) {
    record.shim_cgroup =
        absl::StrCat(kShimCgroupParent, "/task-", ShortHash(key));
  }
  const std::string rootfs = record.bundle + "/rootfs";

  // The client's spec goes to the runtime as it is, but for where the root
  // is mounted and, with systemd's cgroup driver, the cgroup's form. Edited
  // (and its types checked) before the task is reserved: the spec is the
  // client's, and a wrong type in it is its error, not ours.
  if (request.rootfs_size() > 0) {
    if (spec->contains("root") && !(*spec)["root"].is_object() &&
        !(*spec)["root"].is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "container ", id, ": the spec's \"root\" must be an object, not ",
          (*spec)["root"].type_name()));
    }
    (*spec)["root"]["path"] = rootfs;
  }
  if (spec->contains("process")) {
    if (!(*spec)["process"].is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "container ", id, ": the spec's \"process\" must be an object, not ",
          (*spec)["process"].type_name()));
    }
    // runc makes a terminal by the spec and the shim expects one by the
    // request: a spec that disagrees would make runc fail, or the shim wait
    // for a terminal that never comes.
    (*spec)["process"]["terminal"] = request.terminal();
  }
  if (spec->contains("linux") && (*spec)["linux"].is_object()) {
    nlohmann::json& linux_ = (*spec)["linux"];
    if (linux_.contains("cgroupsPath") && !linux_["cgroupsPath"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "container ", id,
          ": the spec's \"linux.cgroupsPath\" must be a string, not ",
          linux_["cgroupsPath"].type_name()));
    }
    if (deps_.systemd_cgroup) {
      std::string path = linux_.value("cgroupsPath", "");
      if (path.find(':') == std::string::npos) {
        linux_["cgroupsPath"] =
            absl::StrCat("system.slice:cradle-", ns, ":", id);
      }
    }
  }

  // Reserved before anything is made, so two creates cannot share a bundle.
  // Every way out but success (an exception too) undoes what was made and
  // frees the id again.
  {
    absl::MutexLock lock(&mu_);
    if (!tasks_.emplace(key, nullptr).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("task ", id, " already exists"));
    }
  }
  bool bundle_started = false;
  std::shared_ptr<ShimClient> shim;
  absl::Cleanup undo = [&] {
    if (shim != nullptr) {
      (void)shim->Shutdown();
      RemoveShimCgroup(record);
    }
    if (bundle_started) (void)RemoveBundle(record);
    absl::MutexLock lock(&mu_);
    tasks_.erase(key);
  };

  bundle_started = true;
  absl::Status made = [&]() -> absl::Status {
    for (const std::string& dir :
         {record.bundle, rootfs, base_ + "/s", record.runc_root}) {
      if (int err = lite::MakeDirs(dir); err != 0) {
        return absl::InternalError(
            absl::StrCat("mkdir ", dir, ": ", strerror(err)));
      }
    }
    if (int err = lite::WriteFileAtomic(record.bundle + "/config.json",
                                        spec->dump(), 0644);
        err != 0) {
      return absl::InternalError(
          absl::StrCat("write config.json: ", strerror(err)));
    }
    if (request.rootfs_size() > 0) {
      if (absl::Status s = MountAll(FromProto(request.rootfs()), rootfs);
          !s.ok()) {
        return absl::Status(s.code(),
                            absl::StrCat("mount rootfs: ", s.message()));
      }
      record.rootfs_mounted = true;
    }
    // Before the shim exists: a restarted daemon finds the task by it.
    if (int err =
            lite::WriteFileAtomic(absl::StrCat(record.bundle, "/", kTaskRecord),
                                  ToJson(record).dump());
        err != 0) {
      return absl::InternalError(
          absl::StrCat("write task record: ", strerror(err)));
    }
    return absl::OkStatus();
  }();
  if (!made.ok()) return made;

  ShimLaunchOptions launch;
  launch.binary = deps_.shim_binary;
  launch.socket = record.socket;
  launch.state_dir = record.bundle + "/shim";
  launch.runc_root = record.runc_root;
  launch.runc_binary = record.runtime_binary;
  launch.systemd_cgroup = deps_.systemd_cgroup;
  launch.log_file = record.bundle + "/shim.log";
  launch.cgroup = record.shim_cgroup;
  absl::StatusOr<std::unique_ptr<ShimClient>> launched =
      ShimClient::Launch(launch);
  if (!launched.ok()) {
    RemoveShimCgroup(record);  // a shim that failed may have made it
    return launched.status();
  }
  shim = std::move(*launched);

  shim::CreateRequest create;
  create.id = id;
  create.bundle = record.bundle;
  create.stdin = !record.stdin_path.empty();
  create.stdin_path = record.stdin_path;
  create.stdout_path = record.stdout_path;
  create.stderr_path = record.stderr_path;
  create.tty = record.terminal;
  absl::StatusOr<int> pid = shim->Create(create);
  if (!pid.ok()) return pid.status();

  auto task = std::make_shared<Task>();
  task->record = record;
  {
    absl::MutexLock lock(&task->shim_mu);
    task->shim = shim;
  }
  {
    absl::MutexLock lock(&mu_);
    tasks_[key] = task;
  }
  std::move(undo).Cancel();
  events::TaskCreate event;
  event.set_container_id(id);
  event.set_bundle(record.bundle);
  *event.mutable_rootfs() = request.rootfs();
  event.mutable_io()->set_stdin(record.stdin_path);
  event.mutable_io()->set_stdout(record.stdout_path);
  event.mutable_io()->set_stderr(record.stderr_path);
  event.mutable_io()->set_terminal(record.terminal);
  event.set_pid(*pid);
  Publish(ns, "/tasks/create", event);
  Watch(task);
  response->set_container_id(id);
  response->set_pid(*pid);
  LOG(INFO) << "task " << key << " created, pid " << *pid;
  return absl::OkStatus();
}

absl::Status TasksService::DoStart(grpc::ServerContext* ctx,
                                   const pb::StartRequest& request,
                                   pb::StartResponse* response) {
  absl::StatusOr<std::shared_ptr<Task>> task =
      Mutable(ctx, request.container_id());
  if (!task.ok()) return task.status();
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(**task);
  if (!shim.ok()) return shim.status();
  const std::string& id = request.container_id();
  const std::string& ns = (*task)->record.ns;
  if (request.exec_id().empty()) {
    absl::StatusOr<shim::ContainerState> state = (*shim)->Start(id);
    if (!state.ok()) return state.status();
    events::TaskStart event;
    event.set_container_id(id);
    event.set_pid(state->pid);
    Publish(ns, "/tasks/start", event);
    response->set_pid(state->pid);
    return absl::OkStatus();
  }
  PendingExec exec;
  {
    absl::MutexLock lock(&(*task)->mu);
    auto it = (*task)->pending.find(request.exec_id());
    if (it == (*task)->pending.end()) {
      return absl::NotFoundError(
          absl::StrCat("process ", request.exec_id(), " of task ", id,
                       " not found (or already started)"));
    }
    exec = it->second;
  }
  absl::StatusOr<int> pid = (*shim)->StartProcess(exec.start);
  if (!pid.ok()) return pid.status();
  {
    absl::MutexLock lock(&(*task)->mu);
    (*task)->pending.erase(request.exec_id());
  }
  events::TaskExecStarted event;
  event.set_container_id(id);
  event.set_exec_id(request.exec_id());
  event.set_pid(*pid);
  Publish(ns, "/tasks/exec-started", event);
  response->set_pid(*pid);
  return absl::OkStatus();
}

absl::Status TasksService::DoDelete(grpc::ServerContext* ctx,
                                    const pb::DeleteTaskRequest& request,
                                    pb::DeleteResponse* response) {
  absl::StatusOr<std::shared_ptr<Task>> task =
      Mutable(ctx, request.container_id());
  if (!task.ok()) return task.status();
  Task& t = **task;
  const std::string& id = t.record.id;
  const std::string key = Key(t.record.ns, id);
  // One delete at a time: a second one running late would remove the
  // bundle of a task created again under the same id meanwhile.
  {
    absl::MutexLock lock(&mu_);
    auto it = tasks_.find(key);
    if (it == tasks_.end() || it->second != *task) {
      return absl::NotFoundError(
          absl::StrCat("no running task found: task ", id, " not found"));
    }
    if (t.deleting) {
      return absl::FailedPreconditionError(
          absl::StrCat("task ", id, " is being deleted"));
    }
    t.deleting = true;
  }
  // Until it is gone, a failed delete leaves the task to delete again.
  absl::Cleanup undelete = [&] {
    absl::MutexLock lock(&mu_);
    t.deleting = false;
  };
  shim::ContainerState last;
  last.id = id;
  last.exit_code = 255;  // unknown: the shim died with the record
  last.exited_at = absl::ToUnixNanos(absl::Now());
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(t);
  // Whether no shim serves the task (proven, never assumed: deleting the
  // container under a live shim would orphan the shim).
  bool gone = !shim.ok() && absl::IsFailedPrecondition(shim.status());
  if (!shim.ok() && !gone) return shim.status();  // alive, not answering
  if (shim.ok()) {
    absl::StatusOr<shim::ContainerState> state = (*shim)->State(id);
    if (!state.ok() && !absl::IsNotFound(state.status()) && ShimGone(t)) {
      gone = true;  // the client was made before the shim died
    } else {
      if (state.ok() && (state->status == shim::ContainerStatus::kRunning ||
                         state->status == shim::ContainerStatus::kPaused)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "task ", id, " must be stopped before deletion: ",
            absl::AsciiStrToLower(shim::ContainerStatusName(state->status))));
      }
      absl::StatusOr<shim::ContainerState> deleted = (*shim)->Delete(id);
      if (!deleted.ok() && !absl::IsNotFound(deleted.status()))
        return deleted.status();
      if (deleted.ok()) last = *deleted;
      if (absl::Status s = (*shim)->Shutdown(); !s.ok()) {
        LOG(WARNING) << "task " << id << ": its shim stays: " << s.message();
      }
    }
  }
  if (gone) {
    // The runtime itself forgets the container, but only one that is not
    // running, as the shim would have required: the shim alone may have
    // died.
    absl::StatusOr<RuncState> state = RuntimeState(t.record);
    if (state.ok() &&
        (state->status == "running" || state->status == "paused")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "task ", id, " must be stopped before deletion: ", state->status,
          " (its shim is gone; ctr tasks kill reaches it through the "
          "runtime)"));
    }
    absl::StatusOr<std::unique_ptr<Runc>> runc = RuntimeOf(t.record);
    if (runc.ok()) (void)(*runc)->Delete(id, /*force=*/true);
  }
  RemoveShimCgroup(t.record);
  if (absl::Status s = RemoveBundle(t.record); !s.ok()) return s;
  t.deleted = true;
  std::move(undelete).Cancel();
  {
    absl::MutexLock lock(&mu_);
    auto it = tasks_.find(key);
    if (it != tasks_.end() && it->second == *task) tasks_.erase(it);
  }
  events::TaskDelete event;
  event.set_container_id(id);
  event.set_pid(last.pid);
  event.set_exit_status(ExitStatusOf(last.exit_code));
  *event.mutable_exited_at() =
      containerd_api::ToProto(FromNanos(last.exited_at));
  Publish(t.record.ns, "/tasks/delete", event);
  response->set_id(id);
  response->set_pid(last.pid);
  response->set_exit_status(ExitStatusOf(last.exit_code));
  *response->mutable_exited_at() =
      containerd_api::ToProto(FromNanos(last.exited_at));
  LOG(INFO) << "task " << key << " deleted";
  return absl::OkStatus();
}

absl::Status TasksService::DoDeleteProcess(
    grpc::ServerContext* ctx, const pb::DeleteProcessRequest& request,
    pb::DeleteResponse* response) {
  absl::StatusOr<std::shared_ptr<Task>> task =
      Mutable(ctx, request.container_id());
  if (!task.ok()) return task.status();
  const std::string& exec_id = request.exec_id();
  if (exec_id.empty()) {
    return absl::InvalidArgumentError(
        "DeleteProcess needs an exec id; Delete removes the task");
  }
  {
    absl::MutexLock lock(&(*task)->mu);
    if ((*task)->pending.erase(exec_id) > 0) {
      response->set_id(exec_id);
      return absl::OkStatus();
    }
  }
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(**task);
  if (!shim.ok()) return shim.status();
  absl::StatusOr<shim::ContainerState> last =
      (*shim)->DeleteProcess(request.container_id(), exec_id);
  if (!last.ok()) return last.status();
  events::TaskDelete event;
  event.set_container_id(request.container_id());
  event.set_id(exec_id);
  event.set_pid(last->pid);
  event.set_exit_status(ExitStatusOf(last->exit_code));
  *event.mutable_exited_at() =
      containerd_api::ToProto(FromNanos(last->exited_at));
  Publish((*task)->record.ns, "/tasks/delete", event);
  response->set_id(exec_id);
  response->set_pid(last->pid);
  response->set_exit_status(ExitStatusOf(last->exit_code));
  *response->mutable_exited_at() =
      containerd_api::ToProto(FromNanos(last->exited_at));
  return absl::OkStatus();
}

absl::Status TasksService::Describe(Task& task, const std::string& exec_id,
                                    types::Process* out) {
  const std::string& id = task.record.id;
  out->set_container_id(id);
  out->set_id(exec_id.empty() ? id : exec_id);
  if (!exec_id.empty()) {
    absl::MutexLock lock(&task.mu);
    auto it = task.pending.find(exec_id);
    if (it != task.pending.end()) {
      out->set_status(types::CREATED);
      out->set_stdin(it->second.start.stdin_path);
      out->set_stdout(it->second.start.stdout_path);
      out->set_stderr(it->second.start.stderr_path);
      out->set_terminal(it->second.terminal);
      return absl::OkStatus();
    }
  } else {
    out->set_stdin(task.record.stdin_path);
    out->set_stdout(task.record.stdout_path);
    out->set_stderr(task.record.stderr_path);
    out->set_terminal(task.record.terminal);
  }
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(task);
  absl::StatusOr<shim::ContainerState> state =
      !shim.ok()        ? absl::StatusOr<shim::ContainerState>(shim.status())
      : exec_id.empty() ? (*shim)->State(id, absl::Seconds(5))
                        : (*shim)->ProcessState(id, exec_id);
  if (!state.ok()) {
    if (absl::IsNotFound(state.status())) return state.status();
    // Stopped only when no shim serves the task: one that is slow or busy
    // (or was not answering at a daemon restart) keeps it alive.
    if (ShimGone(task)) {
      if (!exec_id.empty()) {
        return absl::NotFoundError(
            absl::StrCat("process ", exec_id, " of task ", id, " not found"));
      }
      out->set_status(types::STOPPED);
      out->set_exit_status(255);
      return absl::OkStatus();
    }
    if (!exec_id.empty()) return state.status();
    // A shim that does not answer now: shown, not hidden.
    out->set_status(types::UNKNOWN);
    return absl::OkStatus();
  }
  out->set_pid(state->pid);
  out->set_status(StatusToProto(state->status));
  if (state->status == shim::ContainerStatus::kStopped) {
    out->set_exit_status(ExitStatusOf(state->exit_code));
    *out->mutable_exited_at() =
        containerd_api::ToProto(FromNanos(state->exited_at));
  }
  return absl::OkStatus();
}

void TasksService::DescribeCri(const CriContainer& c, types::Process* out) {
  out->set_container_id(c.id);
  out->set_id(c.id);
  out->set_pid(c.state == CriContainer::kRunning && c.pid > 0 ? c.pid : 0);
  switch (c.state) {
    case CriContainer::kCreated:
      out->set_status(types::CREATED);
      break;
    case CriContainer::kRunning:
      out->set_status(types::RUNNING);
      break;
    case CriContainer::kExited:
      out->set_status(types::STOPPED);
      out->set_exit_status(static_cast<uint32_t>(c.exit_code));
      *out->mutable_exited_at() = containerd_api::ToProto(c.finished_at);
      break;
    default:
      out->set_status(types::UNKNOWN);
      break;
  }
}

absl::Status TasksService::DoGet(grpc::ServerContext* ctx,
                                 const pb::GetRequest& request,
                                 pb::GetResponse* response) {
  absl::StatusOr<std::string> ns = RequestNamespace(ctx);
  if (!ns.ok()) return ns.status();
  const std::string& id = request.container_id();
  if (*ns == kCriNamespace && deps_.cri_containers != nullptr &&
      request.exec_id().empty()) {
    absl::StatusOr<CriContainer> c = deps_.cri_containers->Get(id);
    if (c.ok() && c->id == id) {
      DescribeCri(*c, response->mutable_process());
      return absl::OkStatus();
    }
  }
  absl::StatusOr<std::shared_ptr<Task>> task = Find(*ns, id);
  if (!task.ok() || *task == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no running task found: task ", id, " not found"));
  }
  return Describe(**task, request.exec_id(), response->mutable_process());
}

absl::Status TasksService::DoList(grpc::ServerContext* ctx,
                                  const pb::ListTasksRequest&,
                                  pb::ListTasksResponse* response) {
  absl::StatusOr<std::string> ns = RequestNamespace(ctx);
  if (!ns.ok()) return ns.status();
  std::vector<std::shared_ptr<Task>> tasks;
  {
    absl::MutexLock lock(&mu_);
    const std::string prefix = *ns + "/";
    for (auto it = tasks_.lower_bound(prefix);
         it != tasks_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
         ++it) {
      if (it->second != nullptr) tasks.push_back(it->second);
    }
  }
  for (const std::shared_ptr<Task>& task : tasks) {
    types::Process p;
    if (Describe(*task, "", &p).ok()) *response->add_tasks() = std::move(p);
  }
  if (*ns == kCriNamespace && deps_.cri_containers != nullptr) {
    for (const CriContainer& c : deps_.cri_containers->List()) {
      DescribeCri(c, response->add_tasks());
    }
  }
  return absl::OkStatus();
}

absl::Status TasksService::DoKill(grpc::ServerContext* ctx,
                                  const pb::KillRequest& request) {
  absl::StatusOr<std::shared_ptr<Task>> task =
      Mutable(ctx, request.container_id());
  if (!task.ok()) return task.status();
  int signal = request.signal() == 0 ? SIGTERM : request.signal();
  if (request.signal() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("signal ", request.signal(), " is out of range"));
  }
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(**task);
  absl::Status killed =
      !shim.ok() ? shim.status()
      : !request.exec_id().empty()
          ? (*shim)->KillProcess(request.container_id(), request.exec_id(),
                                 signal)
          : (*shim)->Kill(request.container_id(), signal, request.all());
  if (killed.ok() || absl::IsNotFound(killed) || !request.exec_id().empty() ||
      !ShimGone(**task)) {
    return killed;
  }
  // The shim died but the container may not have: the runtime reaches it,
  // so it can still be stopped and then deleted.
  absl::StatusOr<std::unique_ptr<Runc>> runc = RuntimeOf((*task)->record);
  if (!runc.ok()) return runc.status();
  return lite::ToAbsl(
      (*runc)->Kill(request.container_id(), signal, request.all()));
}

absl::Status TasksService::DoExec(grpc::ServerContext* ctx,
                                  const pb::ExecProcessRequest& request) {
  absl::StatusOr<std::shared_ptr<Task>> task =
      Mutable(ctx, request.container_id());
  if (!task.ok()) return task.status();
  if (request.exec_id().empty())
    return absl::InvalidArgumentError("exec needs an exec id");
  nlohmann::json process =
      nlohmann::json::parse(request.spec().value(), nullptr, false);
  if (!process.is_object() || !process.contains("args")) {
    return absl::InvalidArgumentError(
        "exec spec is not an OCI process (JSON with args)");
  }
  PendingExec exec;
  exec.start.container_id = request.container_id();
  exec.start.exec_id = request.exec_id();
  exec.start.process = process.dump();
  exec.start.stdin_path = request.stdin();
  exec.start.stdout_path = request.stdout();
  exec.start.stderr_path = request.stderr();
  exec.start.tty = request.terminal();
  exec.terminal = request.terminal();
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(**task);
  bool started =
      shim.ok() &&
      (*shim)->ProcessState(request.container_id(), request.exec_id()).ok();
  {
    absl::MutexLock lock(&(*task)->mu);
    if (started || !(*task)->pending.emplace(request.exec_id(), exec).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("process ", request.exec_id(), " of task ",
                       request.container_id(), " already exists"));
    }
  }
  events::TaskExecAdded event;
  event.set_container_id(request.container_id());
  event.set_exec_id(request.exec_id());
  Publish((*task)->record.ns, "/tasks/exec-added", event);
  return absl::OkStatus();
}

absl::Status TasksService::DoCloseIO(grpc::ServerContext* ctx,
                                     const pb::CloseIORequest& request) {
  absl::StatusOr<std::shared_ptr<Task>> task =
      Mutable(ctx, request.container_id());
  if (!task.ok()) return task.status();
  if (!request.stdin()) return absl::OkStatus();
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(**task);
  if (!shim.ok()) return shim.status();
  if (request.exec_id().empty()) {
    return (*shim)->CloseStdin(request.container_id());
  }
  {
    absl::MutexLock lock(&(*task)->mu);
    auto it = (*task)->pending.find(request.exec_id());
    if (it != (*task)->pending.end()) {
      // Not started yet: it starts with no input at all.
      it->second.start.stdin_path.clear();
      return absl::OkStatus();
    }
  }
  return (*shim)->CloseProcessStdin(request.container_id(), request.exec_id());
}

absl::Status TasksService::DoResizePty(grpc::ServerContext* ctx,
                                       const pb::ResizePtyRequest& request) {
  absl::StatusOr<std::shared_ptr<Task>> task =
      Mutable(ctx, request.container_id());
  if (!task.ok()) return task.status();
  const std::string& exec_id = request.exec_id();
  if (!exec_id.empty()) {
    absl::MutexLock lock(&(*task)->mu);
    if ((*task)->pending.count(exec_id) > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "process ", exec_id, " of task ", request.container_id(),
          " is not started: it has no terminal yet"));
    }
  }
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(**task);
  if (!shim.ok()) return shim.status();
  // As containerd's shim: a process without a terminal ignores it.
  return exec_id.empty()
             ? (*shim)->Resize(request.container_id(), request.width(),
                               request.height())
             : (*shim)->ResizeProcess(request.container_id(), exec_id,
                                      request.width(), request.height());
}

absl::Status TasksService::DoPauseResume(grpc::ServerContext* ctx,
                                         const std::string& id, bool pause) {
  absl::StatusOr<std::shared_ptr<Task>> task = Mutable(ctx, id);
  if (!task.ok()) return task.status();
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(**task);
  if (!shim.ok()) return shim.status();
  if (pause) {
    if (absl::Status s = (*shim)->Pause(id); !s.ok()) return s;
    events::TaskPaused event;
    event.set_container_id(id);
    Publish((*task)->record.ns, "/tasks/paused", event);
  } else {
    if (absl::Status s = (*shim)->Resume(id); !s.ok()) return s;
    events::TaskResumed event;
    event.set_container_id(id);
    Publish((*task)->record.ns, "/tasks/resumed", event);
  }
  return absl::OkStatus();
}

absl::Status TasksService::DoListPids(grpc::ServerContext* ctx,
                                      const pb::ListPidsRequest& request,
                                      pb::ListPidsResponse* response) {
  absl::StatusOr<std::string> ns = RequestNamespace(ctx);
  if (!ns.ok()) return ns.status();
  absl::StatusOr<std::shared_ptr<Task>> task =
      Find(*ns, request.container_id());
  if (!task.ok() || *task == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("task ", request.container_id(), " not found"));
  }
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(**task);
  if (!shim.ok()) return shim.status();
  absl::StatusOr<std::vector<int>> pids = (*shim)->Pids(request.container_id());
  if (!pids.ok()) return pids.status();
  for (int pid : *pids) response->add_processes()->set_pid(pid);
  return absl::OkStatus();
}

absl::Status TasksService::DoUpdate(grpc::ServerContext* ctx,
                                    const pb::UpdateTaskRequest& request) {
  absl::StatusOr<std::shared_ptr<Task>> task =
      Mutable(ctx, request.container_id());
  if (!task.ok()) return task.status();
  absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(**task);
  if (!shim.ok()) return shim.status();
  if (!request.has_resources()) return absl::OkStatus();
  nlohmann::json resources =
      nlohmann::json::parse(request.resources().value(), nullptr, false);
  if (!resources.is_object()) {
    return absl::InvalidArgumentError(
        "resources are not OCI LinuxResources JSON");
  }
  return (*shim)->Update(request.container_id(), resources.dump());
}

absl::Status TasksService::DoWait(grpc::ServerContext* ctx,
                                  const pb::WaitRequest& request,
                                  pb::WaitResponse* response) {
  absl::StatusOr<std::string> ns = RequestNamespace(ctx);
  if (!ns.ok()) return ns.status();
  if (absl::Status s = RefuseCri(*ns, request.container_id()); !s.ok())
    return s;
  absl::StatusOr<std::shared_ptr<Task>> task =
      Find(*ns, request.container_id());
  if (!task.ok() || *task == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("task ", request.container_id(), " not found"));
  }
  const std::string& id = request.container_id();
  const std::string& exec_id = request.exec_id();
  // In slices, so a client that hangs up (ctr interrupted) ends the call.
  for (;;) {
    if (ctx->IsCancelled()) return absl::CancelledError("the client left");
    if ((*task)->deleted) {
      return absl::NotFoundError(absl::StrCat("task ", id, " was deleted"));
    }
    absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(**task);
    if (!shim.ok()) {
      if (absl::IsFailedPrecondition(shim.status())) {
        // No shim serves it: its exit is lost with the shim.
        response->set_exit_status(255);
        *response->mutable_exited_at() = containerd_api::ToProto(absl::Now());
        return absl::OkStatus();
      }
      // Not answering now: it may again (a busy shim, a restart).
      absl::SleepFor(kWaitSlice);
      continue;
    }
    absl::StatusOr<shim::ContainerState> state;
    if (exec_id.empty()) {
      state = (*shim)->Wait(id, kWaitSlice);
    } else {
      bool pending;
      {
        absl::MutexLock lock(&(*task)->mu);
        pending = (*task)->pending.count(exec_id) > 0;
      }
      if (pending) {
        // Created, not started: ctr waits before it starts.
        absl::SleepFor(absl::Milliseconds(50));
        continue;
      }
      state = (*shim)->WaitProcess(id, exec_id, kWaitSlice);
    }
    if (absl::IsDeadlineExceeded(state.status())) continue;
    if (!state.ok() && !absl::IsNotFound(state.status())) {
      if (ShimGone(**task)) {  // it died while we waited
        response->set_exit_status(255);
        *response->mutable_exited_at() = containerd_api::ToProto(absl::Now());
        return absl::OkStatus();
      }
      if (absl::IsUnavailable(state.status())) {  // busy: asked again
        absl::SleepFor(kWaitSlice);
        continue;
      }
    }
    if (!state.ok()) return state.status();
    response->set_exit_status(ExitStatusOf(state->exit_code));
    *response->mutable_exited_at() =
        containerd_api::ToProto(FromNanos(state->exited_at));
    if (!exec_id.empty()) {
      events::TaskExit event;
      event.set_container_id(id);
      event.set_id(exec_id);
      event.set_pid(state->pid);
      event.set_exit_status(ExitStatusOf(state->exit_code));
      *event.mutable_exited_at() = response->exited_at();
      Publish(*ns, "/tasks/exit", event);
    }
    return absl::OkStatus();
  }
}

absl::Status TasksService::RemoveBundle(const TaskRecord& record) {
  // Whatever is mounted below (the rootfs) would make removal fail, or
  // worse, walk into it.
  if (absl::Status s = UnmountBelow(record.bundle); !s.ok()) return s;
  // The record last: while it exists the task does (recovery finds it, the
  // Containers service keeps its container), so a removal that fails
  // midway leaves a task to delete again, never a bundle without one.
  const std::string task_record = absl::StrCat(record.bundle, "/", kTaskRecord);
  std::error_code ec;
  std::vector<std::filesystem::path> entries;
  for (const auto& entry :
       std::filesystem::directory_iterator(record.bundle, ec)) {
    if (entry.path() != task_record) entries.push_back(entry.path());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::InternalError(
        absl::StrCat("list ", record.bundle, ": ", ec.message()));
  }
  for (const std::filesystem::path& entry : entries) {
    std::filesystem::remove_all(entry, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("remove ", entry.string(), ": ", ec.message()));
    }
  }
  std::filesystem::remove_all(record.bundle, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("remove ", record.bundle, ": ", ec.message()));
  }
  unlink(record.socket.c_str());
  return absl::OkStatus();
}

void TasksService::RemoveShimCgroup(const TaskRecord& record) {
  if (record.shim_cgroup.empty()) return;
  // A shim asked to shut down leaves right after answering; its cgroup
  // empties a moment later.
  lite::Status removed;
  for (int i = 0; i < 100; ++i) {
    removed = RemoveCgroup(record.shim_cgroup);
    if (removed.code() != lite::StatusCode::kFailedPrecondition) break;
    absl::SleepFor(absl::Milliseconds(30));
  }
  if (!removed.ok()) {
    LOG(WARNING) << "task " << record.ns << "/" << record.id << ": shim cgroup "
                 << record.shim_cgroup << " stays: " << removed.message();
  }
}

absl::StatusOr<std::unique_ptr<Runc>> TasksService::RuntimeOf(
    const TaskRecord& record) {
  RuncOptions options;
  options.binary = record.runtime_binary;
  options.root = record.runc_root;
  options.log_dir = record.bundle;
  return lite::ToAbsl(Runc::New(options));
}

absl::StatusOr<RuncState> TasksService::RuntimeState(const TaskRecord& record) {
  absl::StatusOr<std::unique_ptr<Runc>> runc = RuntimeOf(record);
  if (!runc.ok()) return runc.status();
  return lite::ToAbsl((*runc)->State(record.id));
}

void TasksService::PublishExit(Task& task, const shim::ContainerState& state) {
  if (task.exit_published.exchange(true)) return;
  events::TaskExit event;
  event.set_container_id(task.record.id);
  event.set_id(task.record.id);
  event.set_pid(state.pid);
  event.set_exit_status(ExitStatusOf(state.exit_code));
  *event.mutable_exited_at() =
      containerd_api::ToProto(FromNanos(state.exited_at));
  Publish(task.record.ns, "/tasks/exit", event);
}

void TasksService::Watch(std::shared_ptr<Task> task) {
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto run = [this, task, done] {
    try {
      while (!stopping_ && !task->deleted) {
        absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(*task);
        if (!shim.ok()) {
          if (absl::IsFailedPrecondition(shim.status())) break;  // no shim
          absl::SleepFor(kWaitSlice);  // not answering now: later
          continue;
        }
        absl::StatusOr<shim::ContainerState> state =
            (*shim)->Wait(task->record.id, kWaitSlice);
        if (state.ok()) {
          PublishExit(*task, *state);
          break;
        }
        if (absl::IsNotFound(state.status())) break;  // deleted meanwhile
        if (!absl::IsDeadlineExceeded(state.status())) {
          if (ShimGone(*task)) break;  // died: its exit died with it
          // The shim is unreachable (busy, restarting): try again later.
          absl::SleepFor(kWaitSlice);
        }
      }
    } catch (const std::exception& e) {
      LOG(ERROR) << "task " << task->record.id << " exit watch: " << e.what();
    }
    done->store(true);
  };
  absl::MutexLock lock(&watchers_mu_);
  // The watchers of tasks gone since are joined here, not at shutdown: a
  // daemon running task after task would otherwise keep a finished
  // thread's stack for each until thread creation fails.
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (it->done->load()) {
      if (it->thread.joinable()) it->thread.join();
      it = watchers_.erase(it);
    } else {
      ++it;
    }
  }
  try {
    watchers_.push_back(Watcher{std::thread(run), done});
  } catch (const std::system_error& e) {
    // No exit event for this task; everything else works.
    LOG(ERROR) << "task " << task->record.id << ": no exit watch: " << e.what();
  }
}

void TasksService::Recover() {
  std::error_code ec;
  const std::string root = base_ + "/tasks";
  std::vector<std::shared_ptr<Task>> found;
  for (const auto& ns_dir : std::filesystem::directory_iterator(root, ec)) {
    std::error_code ec2;
    for (const auto& dir :
         std::filesystem::directory_iterator(ns_dir.path(), ec2)) {
      std::string path = dir.path().string() + "/" + kTaskRecord;
      std::string text;
      int err = ReadSmallFile(path, &text);
      if (err == ENOENT) {
        // Crashed between making the bundle and the record (or after a
        // delete removed the record): no shim was ever launched for it.
        LOG(WARNING) << "tasks: " << dir.path()
                     << " has no task record; removing it";
        (void)UnmountBelow(dir.path().string());
        std::filesystem::remove_all(dir.path(), ec2);
        continue;
      }
      if (err != 0) {
        // Not known to be absent: the task may live, so its bundle stays
        // (a later restart tries again).
        LOG(ERROR) << "tasks: cannot read " << path << " (" << strerror(err)
                   << "); task left as it is, not served";
        continue;
      }
      absl::StatusOr<TaskRecord> record = TaskRecordFromJson(text);
      if (!record.ok()) {
        // Written atomically, so this is damage, not a crash mid-create:
        // kept for whoever looks.
        LOG(ERROR) << "tasks: " << path << " is unusable ("
                   << record.status().message()
                   << "); task left as it is, not served";
        continue;
      }
      auto task = std::make_shared<Task>();
      task->record = *record;
      // Once now for the log; a shim that does not answer is asked again
      // on each call (ShimOf), and only one proven gone means stopped.
      absl::StatusOr<std::shared_ptr<ShimClient>> shim = ShimOf(*task);
      if (!shim.ok()) {
        LOG(WARNING) << "task " << record->ns << "/" << record->id << ": "
                     << shim.status().message();
      }
      found.push_back(task);
    }
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& task : found)
      tasks_[Key(task->record.ns, task->record.id)] = task;
  }
  // Every task, even one whose shim did not answer yet: the watcher asks
  // again, and ends once the shim is proven gone.
  for (const auto& task : found) Watch(task);
}

}  // namespace

std::unique_ptr<grpc::Service> NewTasksService(const ContainerdApiDeps& deps) {
  return std::make_unique<TasksService>(deps);
}

}  // namespace cradle::containerd_api
