#include "shim/client/shim_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/grpcpp.h"
#include "process/process.h"

namespace cradle {
namespace {

using shim::v1::ContainerRef;
using shim::v1::ContainerState;

constexpr absl::Duration kCallTimeout = absl::Minutes(2);
// How long a timed-out exec may take to die and be reported.
constexpr absl::Duration kExecKillGrace = absl::Seconds(10);
constexpr int kReadyTimeoutMillis = 10000;

absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  // A shim that is gone is "unavailable"; say which call found out.
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

void SetDeadline(grpc::ClientContext* ctx, absl::Duration d = kCallTimeout) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(absl::ToInt64Milliseconds(d)));
}

ContainerRef Ref(const std::string& id) {
  ContainerRef ref;
  ref.set_id(id);
  return ref;
}

std::unique_ptr<shim::v1::Shim::Stub> NewStub(const std::string& socket) {
  grpc::ChannelArguments args;
  // The shim is local; don't back off for long when it is briefly away.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return shim::v1::Shim::NewStub(grpc::CreateCustomChannel(
      "unix:" + socket, grpc::InsecureChannelCredentials(), args));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShimClient>> ShimClient::Launch(
    const ShimLaunchOptions& o) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  int log =
      open(o.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  SpawnOptions spawn;
  spawn.argv = {o.binary,      "--socket",    o.socket,    "--state-dir",
                o.state_dir,   "--runc-root", o.runc_root, "--runc",
                o.runc_binary, "--ready-fd",  "3"};
  if (o.systemd_cgroup) spawn.argv.push_back("--systemd-cgroup");
  if (!o.cgroup.empty()) {
    spawn.argv.push_back("--cgroup");
    spawn.argv.push_back(o.cgroup);
  }
  spawn.stdout_fd = log;
  spawn.stderr_fd = log;
  spawn.extra_fds = {ready[1]};
  spawn.new_session = true;
  absl::StatusOr<pid_t> pid = Spawn(spawn);
  close(ready[1]);
  if (log >= 0) close(log);
  if (!pid.ok()) {
    close(ready[0]);
    return pid.status();
  }
  // The first process forks the real shim and exits at once.
  (void)WaitFor(*pid);
  std::string report;
  char buf[512];
  pollfd p{ready[0], POLLIN, 0};
  while (poll(&p, 1, kReadyTimeoutMillis) > 0) {
    ssize_t n = read(ready[0], buf, sizeof(buf));
    if (n <= 0) break;
    report.append(buf, n);
  }
  close(ready[0]);
  if (report != "ok") {
    return absl::InternalError(absl::StrCat(
        "cradle-shim did not start: ",
        report.empty() ? "no answer (see " + o.log_file + ")" : report));
  }
  return std::unique_ptr<ShimClient>(new ShimClient(NewStub(o.socket)));
}

absl::StatusOr<std::unique_ptr<ShimClient>> ShimClient::Connect(
    const std::string& socket) {
  if (access(socket.c_str(), F_OK) != 0)
    return absl::UnavailableError("no shim socket at " + socket);
  std::unique_ptr<ShimClient> client(new ShimClient(NewStub(socket)));
  absl::StatusOr<int> pid = client->ShimPid();
  if (!pid.ok()) return absl::UnavailableError(pid.status().message());
  return client;
}

absl::StatusOr<int> ShimClient::ShimPid() {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(5));
  shim::v1::Empty req;
  shim::v1::ShimInfo info;
  if (absl::Status s = FromGrpc(stub_->Info(&ctx, req, &info), "shim info");
      !s.ok())
    return s;
  return info.pid();
}

absl::StatusOr<int> ShimClient::Create(const shim::v1::CreateRequest& request) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  shim::v1::CreateResponse resp;
  if (absl::Status s = FromGrpc(stub_->Create(&ctx, request, &resp), "create");
      !s.ok())
    return s;
  return resp.pid();
}

absl::StatusOr<ContainerState> ShimClient::Start(const std::string& id) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  ContainerState state;
  if (absl::Status s = FromGrpc(stub_->Start(&ctx, Ref(id), &state), "start");
      !s.ok())
    return s;
  return state;
}

absl::Status ShimClient::Kill(const std::string& id, int signal, bool all) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  shim::v1::KillRequest req;
  req.set_id(id);
  req.set_signal(signal);
  req.set_all(all);
  shim::v1::Empty resp;
  return FromGrpc(stub_->Kill(&ctx, req, &resp), "kill");
}

absl::StatusOr<ContainerState> ShimClient::Delete(const std::string& id) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  ContainerState state;
  if (absl::Status s = FromGrpc(stub_->Delete(&ctx, Ref(id), &state), "delete");
      !s.ok())
    return s;
  return state;
}

absl::StatusOr<ContainerState> ShimClient::State(const std::string& id) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  ContainerState state;
  if (absl::Status s = FromGrpc(stub_->State(&ctx, Ref(id), &state), "state");
      !s.ok())
    return s;
  return state;
}

absl::StatusOr<std::vector<ContainerState>> ShimClient::List() {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  shim::v1::Empty req;
  shim::v1::ListResponse resp;
  if (absl::Status s = FromGrpc(stub_->List(&ctx, req, &resp), "list"); !s.ok())
    return s;
  return std::vector<ContainerState>(resp.containers().begin(),
                                     resp.containers().end());
}

absl::StatusOr<ContainerState> ShimClient::Wait(const std::string& id,
                                                absl::Duration timeout) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout);
  ContainerState state;
  if (absl::Status s = FromGrpc(stub_->Wait(&ctx, Ref(id), &state), "wait");
      !s.ok())
    return s;
  return state;
}

absl::Status ShimClient::ReopenLog(const std::string& id) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  shim::v1::Empty resp;
  return FromGrpc(stub_->ReopenLog(&ctx, Ref(id), &resp), "reopen log");
}

absl::Status ShimClient::Update(const std::string& id,
                                const std::string& resources) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  shim::v1::UpdateRequest req;
  req.set_id(id);
  req.set_resources_json(resources);
  shim::v1::Empty resp;
  return FromGrpc(stub_->Update(&ctx, req, &resp), "update");
}

absl::Status ShimClient::CloseStdin(const std::string& id) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  shim::v1::Empty resp;
  return FromGrpc(stub_->CloseStdin(&ctx, Ref(id), &resp), "close stdin");
}

absl::Status ShimClient::Resize(const std::string& id, uint32_t width,
                                uint32_t height) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  shim::v1::ResizeRequest req;
  req.set_id(id);
  req.set_width(width);
  req.set_height(height);
  shim::v1::Empty resp;
  return FromGrpc(stub_->Resize(&ctx, req, &resp), "resize");
}

absl::StatusOr<ExecSyncResult> ShimClient::ExecSync(
    const std::string& id, const std::vector<std::string>& args,
    absl::Duration timeout, size_t max_output) {
  grpc::ClientContext ctx;
  // The shim kills the process when asked on the stream, and reports the
  // exit only once it is reaped: when ExecSync returns, it is gone. The
  // deadline is only a backstop for a shim that stopped answering.
  if (timeout > absl::ZeroDuration()) {
    SetDeadline(&ctx, timeout + kExecKillGrace);
  }
  auto stream = stub_->Exec(&ctx);
  shim::v1::StreamInput start;
  start.mutable_start()->set_container_id(id);
  for (const std::string& a : args) start.mutable_start()->add_args(a);
  stream->Write(start);
  absl::Notification done;
  std::atomic<bool> killed{false};
  std::thread timer;
  if (timeout > absl::ZeroDuration()) {
    timer = std::thread([&] {
      if (done.WaitForNotificationWithTimeout(timeout)) return;
      killed = true;
      shim::v1::StreamInput kill;
      kill.set_kill_signal(SIGKILL);
      stream->Write(kill);
    });
  }
  ExecSyncResult result;
  shim::v1::StreamOutput out;
  bool exited = false;
  while (stream->Read(&out)) {
    auto append = [&](std::string* sink, const std::string& data) {
      size_t room = max_output - std::min(max_output, sink->size());
      sink->append(data, 0, std::min(room, data.size()));
    };
    append(&result.stdout_data, out.stdout());
    append(&result.stderr_data, out.stderr());
    if (out.exited()) {
      exited = true;
      result.exit_code = out.exit_code();
    }
  }
  done.Notify();
  if (timer.joinable()) timer.join();
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  if (exited) {
    result.timed_out = killed;
    return result;
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    result.timed_out = true;
    return result;
  }
  if (status.ok())
    return absl::InternalError("exec stream ended without an exit code");
  return FromGrpc(status, "exec");
}

absl::Status ShimClient::Shutdown() {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  shim::v1::Empty req, resp;
  return FromGrpc(stub_->Shutdown(&ctx, req, &resp), "shim shutdown");
}

}  // namespace cradle
