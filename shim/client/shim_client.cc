#include "shim/client/shim_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "lite/absl_status.h"
#include "process/process.h"

namespace cradle {
namespace {

using shim::ContainerState;
using shim::FrameType;

constexpr absl::Duration kCallTimeout = absl::Minutes(2);
// A signal is quick to deliver: a shim that takes longer is stopped or
// wedged, and the caller has runc to fall back on.
constexpr absl::Duration kKillTimeout = absl::Seconds(1);
// The exit monitor resubscribes on its own; it must not sit in one attempt.
constexpr absl::Duration kEventsAcceptTimeout = absl::Seconds(5);
// How long a timed-out exec may take to die and be reported.
constexpr absl::Duration kExecKillGrace = absl::Seconds(10);
constexpr int kReadyTimeoutMillis = 10000;

// Waits until `fd` is readable; false when `timeout` passes first.
bool WaitReadable(int fd, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : left);
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

absl::Status Named(const absl::Status& s, absl::string_view what) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

// The "pid" of a reply: an int, or Internal when the shim sent something
// else (a float or a string must not reach the caller as a number).
absl::StatusOr<int> ReplyPid(const nlohmann::json& reply, const char* what) {
  try {
    int pid = shim::IntegerOr(reply, "pid", 0);
    if (pid > 0) return pid;
  } catch (const nlohmann::json::exception&) {
  }
  return absl::InternalError(
      absl::StrCat(what, ": the shim's reply has no valid pid"));
}

}  // namespace

ShimStream::~ShimStream() { close(fd_); }

absl::Status ShimStream::Send(FrameType type, absl::string_view payload) {
  std::lock_guard<std::mutex> lock(write_mu_);
  return lite::ToAbsl(shim::WriteFrame(
      fd_, type, std::string_view(payload.data(), payload.size())));
}

absl::Status ShimStream::SendStdin(absl::string_view data) {
  return Send(FrameType::kStdin, data);
}

absl::Status ShimStream::CloseStdin() {
  return Send(FrameType::kCloseStdin, "");
}

absl::Status ShimStream::Resize(uint32_t width, uint32_t height) {
  return Send(FrameType::kResize,
              nlohmann::json({{"width", width}, {"height", height}}).dump());
}

absl::Status ShimStream::Kill(int signal) {
  return Send(FrameType::kKill, nlohmann::json({{"signal", signal}}).dump());
}

bool ShimStream::Read(Output* out) {
  for (;;) {
    lite::StatusOr<shim::Frame> frame = shim::ReadFrame(fd_);
    if (!frame.ok()) return false;
    switch (frame->type) {
      case FrameType::kStdout:
      case FrameType::kStderr:
        out->kind = frame->type == FrameType::kStdout ? Output::kStdout
                                                      : Output::kStderr;
        out->data = std::move(frame->payload);
        return true;
      case FrameType::kExit: {
        nlohmann::json j =
            nlohmann::json::parse(frame->payload, nullptr, false);
        out->kind = Output::kExit;
        out->exit_code = -1;
        try {
          if (j.is_object())
            out->exit_code = shim::IntegerOr(j, "exitCode", -1);
        } catch (const nlohmann::json::exception&) {
          // A malformed exit frame reads as an unknown exit code.
        }
        return true;
      }
      case FrameType::kEvent: {
        lite::StatusOr<shim::ExitEvent> e =
            shim::Decode<shim::ExitEvent>(frame->payload, "exit event");
        if (!e.ok()) continue;
        out->kind = Output::kEvent;
        out->event = *std::move(e);
        return true;
      }
      default:
        continue;  // nothing else is meant for a client
    }
  }
}

void ShimStream::Cancel() { shutdown(fd_, SHUT_RDWR); }

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
  return std::unique_ptr<ShimClient>(new ShimClient(o.socket));
}

absl::StatusOr<std::unique_ptr<ShimClient>> ShimClient::Connect(
    const std::string& socket) {
  if (access(socket.c_str(), F_OK) != 0)
    return absl::UnavailableError("no shim socket at " + socket);
  std::unique_ptr<ShimClient> client(new ShimClient(socket));
  absl::StatusOr<int> pid = client->ShimPid();
  if (!pid.ok()) return absl::UnavailableError(pid.status().message());
  return client;
}

bool ShimClient::Gone(const std::string& socket_path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(address.sun_path)) return false;
  strncpy(address.sun_path, socket_path.c_str(), sizeof(address.sun_path) - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  int err = errno;
  close(fd);
  return rc != 0 && (err == ENOENT || err == ECONNREFUSED);
}

absl::StatusOr<int> ShimClient::Open(const nlohmann::json& request) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof(address.sun_path))
    return absl::InvalidArgumentError("shim socket path too long: " + socket_);
  strncpy(address.sun_path, socket_.c_str(), sizeof(address.sun_path) - 1);
  // Non-blocking: a stopped shim's full backlog makes a blocking connect
  // wait forever; here it is EAGAIN, an answer of "not now".
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    std::string why =
        errno == EAGAIN ? "its backlog is full (stopped?)" : strerror(errno);
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("the shim at ", socket_, " does not answer: ", why));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  absl::Status sent =
      lite::ToAbsl(shim::WriteFrame(fd, FrameType::kRequest, request.dump()));
  if (!sent.ok()) {
    close(fd);
    return sent;
  }
  return fd;
}

absl::StatusOr<nlohmann::json> ShimClient::Call(const nlohmann::json& request,
                                                absl::Duration timeout) {
  absl::StatusOr<int> fd = Open(request);
  if (!fd.ok()) return fd.status();
  absl::StatusOr<nlohmann::json> result;
  if (!WaitReadable(*fd, timeout)) {
    result = absl::DeadlineExceededError(
        absl::StrCat("no answer within ", absl::FormatDuration(timeout)));
  } else {
    lite::StatusOr<shim::Frame> reply = shim::ReadFrame(*fd);
    if (!reply.ok()) {
      result = absl::UnavailableError("the shim closed the call unanswered");
    } else if (reply->type != FrameType::kReply) {
      result = absl::InternalError("the shim answered with no reply");
    } else {
      result = lite::ToAbsl(shim::DecodeReply(reply->payload));
    }
  }
  close(*fd);
  return result;
}

absl::StatusOr<ContainerState> ShimClient::StateCall(
    const char* method, const std::string& id, absl::Duration timeout,
    const std::string& exec_id) {
  nlohmann::json request = {{shim::kMethodKey, method}, {"id", id}};
  if (!exec_id.empty()) request["execId"] = exec_id;
  absl::StatusOr<nlohmann::json> r = Call(request, timeout);
  if (!r.ok()) return Named(r.status(), absl::AsciiStrToLower(method));
  return lite::ToAbsl(
      shim::Decode<ContainerState>(r->dump(), "the shim's container state"));
}

absl::StatusOr<std::unique_ptr<ShimStream>> ShimClient::OpenStream(
    const nlohmann::json& request, absl::Duration accept_timeout) {
  absl::StatusOr<int> fd = Open(request);
  if (!fd.ok()) return fd.status();
  auto stream = std::make_unique<ShimStream>(*fd);
  if (!WaitReadable(*fd, accept_timeout)) {
    return absl::DeadlineExceededError("the shim did not accept the stream");
  }
  lite::StatusOr<shim::Frame> reply = shim::ReadFrame(*fd);
  if (!reply.ok() || reply->type != FrameType::kReply)
    return absl::UnavailableError("the shim closed the stream unanswered");
  absl::StatusOr<nlohmann::json> accepted =
      lite::ToAbsl(shim::DecodeReply(reply->payload));
  if (!accepted.ok()) return accepted.status();
  return stream;
}

absl::StatusOr<int> ShimClient::ShimPid() {
  absl::StatusOr<nlohmann::json> r =
      Call({{shim::kMethodKey, "Info"}}, absl::Seconds(5));
  if (!r.ok()) return Named(r.status(), "shim info");
  return ReplyPid(*r, "shim info");
}

absl::Status ShimClient::Ping(absl::Duration timeout) {
  return Call({{shim::kMethodKey, "Info"}}, timeout).status();
}

absl::StatusOr<int> ShimClient::Create(const shim::CreateRequest& request) {
  nlohmann::json j = request;
  j[shim::kMethodKey] = "Create";
  absl::StatusOr<nlohmann::json> r = Call(j, kCallTimeout);
  if (!r.ok()) return Named(r.status(), "create");
  return ReplyPid(*r, "create");
}

absl::Status ShimClient::Pause(const std::string& id) {
  return Named(
      Call({{shim::kMethodKey, "Pause"}, {"id", id}}, kCallTimeout).status(),
      "pause");
}

absl::Status ShimClient::Resume(const std::string& id) {
  return Named(
      Call({{shim::kMethodKey, "Resume"}, {"id", id}}, kCallTimeout).status(),
      "resume");
}

absl::StatusOr<std::vector<int>> ShimClient::Pids(const std::string& id) {
  absl::StatusOr<nlohmann::json> r =
      Call({{shim::kMethodKey, "Pids"}, {"id", id}}, kCallTimeout);
  if (!r.ok()) return Named(r.status(), "pids");
  std::vector<int> pids;
  auto it = r->find("pids");
  if (it == r->end() || !it->is_array())
    return absl::InternalError("pids: the shim sent no list");
  try {
    for (const nlohmann::json& p : *it)
      pids.push_back(shim::CheckedInteger<int>(p, "pid"));
  } catch (const nlohmann::json::exception& e) {
    return absl::InternalError(absl::StrCat("pids: ", e.what()));
  }
  return pids;
}

absl::StatusOr<int> ShimClient::StartProcess(const shim::ProcessStart& start) {
  nlohmann::json j = start;
  j[shim::kMethodKey] = "StartProcess";
  absl::StatusOr<nlohmann::json> r = Call(j, kCallTimeout);
  if (!r.ok()) return Named(r.status(), "start process");
  return ReplyPid(*r, "start process");
}

absl::StatusOr<ContainerState> ShimClient::ProcessState(
    const std::string& id, const std::string& exec_id) {
  return StateCall("State", id, absl::Seconds(10), exec_id);
}

absl::StatusOr<ContainerState> ShimClient::WaitProcess(
    const std::string& id, const std::string& exec_id, absl::Duration timeout) {
  return StateCall("Wait", id, timeout, exec_id);
}

absl::Status ShimClient::KillProcess(const std::string& id,
                                     const std::string& exec_id, int signal) {
  return Named(Call({{shim::kMethodKey, "Kill"},
                     {"id", id},
                     {"execId", exec_id},
                     {"signal", signal}},
                    kKillTimeout)
                   .status(),
               "kill");
}

absl::StatusOr<ContainerState> ShimClient::DeleteProcess(
    const std::string& id, const std::string& exec_id) {
  return StateCall("Delete", id, kCallTimeout, exec_id);
}

absl::Status ShimClient::CloseProcessStdin(const std::string& id,
                                           const std::string& exec_id) {
  return Named(
      Call({{shim::kMethodKey, "CloseStdin"}, {"id", id}, {"execId", exec_id}},
           kCallTimeout)
          .status(),
      "close stdin");
}

absl::Status ShimClient::ResizeProcess(const std::string& id,
                                       const std::string& exec_id,
                                       uint32_t width, uint32_t height) {
  return Named(Call({{shim::kMethodKey, "Resize"},
                     {"id", id},
                     {"execId", exec_id},
                     {"width", width},
                     {"height", height}},
                    kCallTimeout)
                   .status(),
               "resize");
}

absl::StatusOr<ContainerState> ShimClient::Start(const std::string& id) {
  return StateCall("Start", id, kCallTimeout);
}

absl::Status ShimClient::Kill(const std::string& id, int signal, bool all) {
  return Named(Call({{shim::kMethodKey, "Kill"},
                     {"id", id},
                     {"signal", signal},
                     {"all", all}},
                    kKillTimeout)
                   .status(),
               "kill");
}

absl::StatusOr<ContainerState> ShimClient::Delete(const std::string& id) {
  return StateCall("Delete", id, kCallTimeout);
}

absl::StatusOr<ContainerState> ShimClient::State(const std::string& id,
                                                 absl::Duration timeout) {
  return StateCall("State", id, timeout);
}

absl::StatusOr<std::vector<ContainerState>> ShimClient::List(
    absl::Duration timeout) {
  absl::StatusOr<nlohmann::json> r =
      Call({{shim::kMethodKey, "List"}}, timeout);
  if (!r.ok()) return Named(r.status(), "list");
  std::vector<ContainerState> all;
  if (!r->is_array()) return absl::InternalError("list: not a list");
  for (const nlohmann::json& j : *r) {
    absl::StatusOr<ContainerState> s =
        lite::ToAbsl(shim::Decode<ContainerState>(j.dump(), "list"));
    if (!s.ok()) return s.status();
    all.push_back(*std::move(s));
  }
  return all;
}

absl::StatusOr<ContainerState> ShimClient::Wait(const std::string& id,
                                                absl::Duration timeout) {
  return StateCall("Wait", id, timeout);
}

absl::Status ShimClient::ReopenLog(const std::string& id) {
  return Named(Call({{shim::kMethodKey, "ReopenLog"}, {"id", id}}, kCallTimeout)
                   .status(),
               "reopen log");
}

absl::Status ShimClient::Update(const std::string& id,
                                const std::string& resources) {
  return Named(
      Call({{shim::kMethodKey, "Update"}, {"id", id}, {"resources", resources}},
           kCallTimeout)
          .status(),
      "update");
}

absl::Status ShimClient::CloseStdin(const std::string& id) {
  return Named(
      Call({{shim::kMethodKey, "CloseStdin"}, {"id", id}}, kCallTimeout)
          .status(),
      "close stdin");
}

absl::Status ShimClient::Resize(const std::string& id, uint32_t width,
                                uint32_t height) {
  return Named(Call({{shim::kMethodKey, "Resize"},
                     {"id", id},
                     {"width", width},
                     {"height", height}},
                    kCallTimeout)
                   .status(),
               "resize");
}

absl::StatusOr<std::unique_ptr<ShimStream>> ShimClient::Exec(
    const shim::ExecStart& start) {
  nlohmann::json j = start;
  j[shim::kMethodKey] = "Exec";
  absl::StatusOr<std::unique_ptr<ShimStream>> s = OpenStream(j);
  if (!s.ok()) return Named(s.status(), "exec");
  return s;
}

absl::StatusOr<std::unique_ptr<ShimStream>> ShimClient::Attach(
    const std::string& id) {
  absl::StatusOr<std::unique_ptr<ShimStream>> s =
      OpenStream({{shim::kMethodKey, "Attach"}, {"id", id}});
  if (!s.ok()) return Named(s.status(), "attach");
  return s;
}

absl::StatusOr<std::unique_ptr<ShimStream>> ShimClient::Events() {
  absl::StatusOr<std::unique_ptr<ShimStream>> s =
      OpenStream({{shim::kMethodKey, "Events"}}, kEventsAcceptTimeout);
  if (!s.ok()) return Named(s.status(), "events");
  return s;
}

absl::StatusOr<ExecSyncResult> ShimClient::ExecSync(
    const std::string& id, const std::vector<std::string>& args,
    absl::Duration timeout, size_t max_output) {
  shim::ExecStart start;
  start.container_id = id;
  start.args = args;
  absl::StatusOr<std::unique_ptr<ShimStream>> stream = Exec(start);
  if (!stream.ok()) return stream.status();
  // The shim kills the process when asked on the stream, and reports the
  // exit only once it is reaped: when ExecSync returns, it is gone. The
  // second deadline only backs up a shim that stopped answering.
  absl::Notification done;
  std::atomic<bool> killed{false}, abandoned{false};
  std::thread timer;
  if (timeout > absl::ZeroDuration()) {
    timer = std::thread([&] {
      if (done.WaitForNotificationWithTimeout(timeout)) return;
      killed = true;
      (*stream)->Kill(SIGKILL).IgnoreError();
      if (done.WaitForNotificationWithTimeout(kExecKillGrace)) return;
      abandoned = true;
      (*stream)->Cancel();
    });
  }
  ExecSyncResult result;
  ShimStream::Output out;
  bool exited = false;
  auto append = [&](std::string* sink, const std::string& data) {
    size_t room = max_output - std::min(max_output, sink->size());
    sink->append(data, 0, std::min(room, data.size()));
  };
  while (!exited && (*stream)->Read(&out)) {
    if (out.kind == ShimStream::Output::kStdout) {
      append(&result.stdout_data, out.data);
    } else if (out.kind == ShimStream::Output::kStderr) {
      append(&result.stderr_data, out.data);
    } else if (out.kind == ShimStream::Output::kExit) {
      exited = true;
      result.exit_code = out.exit_code;
    }
  }
  done.Notify();
  if (timer.joinable()) timer.join();
  if (exited) {
    result.timed_out = killed;
    return result;
  }
  if (abandoned) {
    result.timed_out = true;
    return result;
  }
  return absl::UnavailableError(
      "exec: the shim ended the stream without an exit code");
}

absl::Status ShimClient::Shutdown() {
  return Named(
      Call({{shim::kMethodKey, "Shutdown"}}, absl::Seconds(10)).status(),
      "shim shutdown");
}

}  // namespace cradle
