#include "shim/api/protocol.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lite/files.h"

namespace cradle::shim {
namespace {

// Reads exactly `size` bytes; false at end of stream or on an error.
bool ReadAll(int fd, char* data, size_t size) {
  while (size > 0) {
    ssize_t n = read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= n;
  }
  return true;
}

template <typename T>
void Get(const nlohmann::json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    *out = CheckedInteger<T>(*it, key);
  } else {
    it->get_to(*out);
  }
}

}  // namespace

lite::Status WriteFrame(int fd, FrameType type, std::string_view payload) {
  if (payload.size() > kMaxFramePayload) {
    return lite::InvalidArgumentError(
        lite::StrCat("frame of ", payload.size(), " bytes is too large"));
  }
  // Small frames go out in one write so concurrent readers see whole ones.
  std::string frame;
  frame.reserve(5 + payload.size());
  uint32_t n = payload.size();
  frame.push_back(static_cast<char>(n >> 24));
  frame.push_back(static_cast<char>(n >> 16));
  frame.push_back(static_cast<char>(n >> 8));
  frame.push_back(static_cast<char>(n));
  frame.push_back(static_cast<char>(type));
  frame.append(payload);
  if (!lite::SendFully(fd, frame)) {
    return lite::UnavailableError(
        lite::StrCat("the peer is gone: ", strerror(errno)));
  }
  return lite::OkStatus();
}

lite::StatusOr<Frame> ReadFrame(int fd) {
  unsigned char header[5];
  if (!ReadAll(fd, reinterpret_cast<char*>(header), sizeof(header))) {
    return lite::UnavailableError("the connection ended");
  }
  size_t size = (size_t{header[0]} << 24) | (size_t{header[1]} << 16) |
                (size_t{header[2]} << 8) | size_t{header[3]};
  if (size > kMaxFramePayload) {
    return lite::InvalidArgumentError(
        lite::StrCat("frame of ", size, " bytes is too large"));
  }
  Frame frame;
  frame.type = static_cast<FrameType>(header[4]);
  frame.payload.resize(size);
  if (!ReadAll(fd, frame.payload.data(), size)) {
    return lite::UnavailableError("the connection ended inside a frame");
  }
  return frame;
}

std::string EncodeReply(const lite::Status& status,
                        const nlohmann::json& result) {
  nlohmann::json reply = {{"code", static_cast<int>(status.code())}};
  if (!status.ok()) reply["message"] = status.message();
  if (status.ok() && !result.is_null()) reply["result"] = result;
  // A message may quote runc's output: bytes that are not UTF-8 are
  // replaced rather than thrown at the caller.
  return reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

lite::StatusOr<nlohmann::json> DecodeReply(std::string_view payload) {
  nlohmann::json reply = nlohmann::json::parse(payload, nullptr, false);
  if (!reply.is_object() || !reply.contains("code") ||
      !reply["code"].is_number_integer()) {
    return lite::InternalError("the shim's reply is not a reply");
  }
  // Never throws, whatever the peer sent: an out-of-range code or a
  // message that is not a string makes an Internal error.
  int64_t code = reply["code"].get<int64_t>();
  auto message = reply.find("message");
  std::string text = message != reply.end() && message->is_string()
                         ? message->get<std::string>()
                         : "";
  if (code < 0 ||
      code > static_cast<int64_t>(lite::StatusCode::kUnauthenticated)) {
    return lite::InternalError(
        lite::StrCat("the shim answered code ", code, ": ", text));
  }
  if (code != 0) return lite::Status(static_cast<lite::StatusCode>(code), text);
  auto it = reply.find("result");
  return it == reply.end() ? nlohmann::json::object() : *it;
}

const char* ContainerStatusName(ContainerStatus status) {
  switch (status) {
    case ContainerStatus::kCreated:
      return "CREATED";
    case ContainerStatus::kRunning:
      return "RUNNING";
    case ContainerStatus::kStopped:
      return "STOPPED";
    case ContainerStatus::kPaused:
      return "PAUSED";
    case ContainerStatus::kUnknown:
      break;
  }
  return "UNKNOWN";
}

ContainerStatus ContainerStatusFromName(std::string_view name) {
  for (ContainerStatus s :
       {ContainerStatus::kCreated, ContainerStatus::kRunning,
        ContainerStatus::kStopped, ContainerStatus::kPaused}) {
    if (name == ContainerStatusName(s)) return s;
  }
  return ContainerStatus::kUnknown;
}

void to_json(nlohmann::json& j, const CreateRequest& r) {
  j = {
      {"id", r.id},       {"bundle", r.bundle},        {"tty", r.tty},
      {"stdin", r.stdin}, {"stdinOnce", r.stdin_once}, {"logPath", r.log_path}};
  // Only when set: requests stay as they were for the CRI.
  if (!r.stdin_path.empty()) j["stdinPath"] = r.stdin_path;
  if (!r.stdout_path.empty()) j["stdoutPath"] = r.stdout_path;
  if (!r.stderr_path.empty()) j["stderrPath"] = r.stderr_path;
}

void from_json(const nlohmann::json& j, CreateRequest& r) {
  Get(j, "id", &r.id);
  Get(j, "bundle", &r.bundle);
  Get(j, "tty", &r.tty);
  Get(j, "stdin", &r.stdin);
  Get(j, "stdinOnce", &r.stdin_once);
  Get(j, "logPath", &r.log_path);
  Get(j, "stdinPath", &r.stdin_path);
  Get(j, "stdoutPath", &r.stdout_path);
  Get(j, "stderrPath", &r.stderr_path);
}

void to_json(nlohmann::json& j, const ContainerState& s) {
  j = {{"id", s.id},
       {"pid", s.pid},
       {"status", ContainerStatusName(s.status)},
       {"exitCode", s.exit_code},
       {"startedAt", s.started_at},
       {"exitedAt", s.exited_at},
       {"oomKilled", s.oom_killed},
       {"bundle", s.bundle},
       {"logPath", s.log_path}};
}

void from_json(const nlohmann::json& j, ContainerState& s) {
  Get(j, "id", &s.id);
  Get(j, "pid", &s.pid);
  std::string status;
  Get(j, "status", &status);
  s.status = ContainerStatusFromName(status);
  Get(j, "exitCode", &s.exit_code);
  Get(j, "startedAt", &s.started_at);
  Get(j, "exitedAt", &s.exited_at);
  Get(j, "oomKilled", &s.oom_killed);
  Get(j, "bundle", &s.bundle);
  Get(j, "logPath", &s.log_path);
}

void to_json(nlohmann::json& j, const ExecStart& e) {
  j = {{"containerId", e.container_id},
       {"args", e.args},
       {"tty", e.tty},
       {"stdin", e.stdin}};
}

void from_json(const nlohmann::json& j, ExecStart& e) {
  Get(j, "containerId", &e.container_id);
  Get(j, "args", &e.args);
  Get(j, "tty", &e.tty);
  Get(j, "stdin", &e.stdin);
}

void to_json(nlohmann::json& j, const ExitEvent& e) {
  j = {{"id", e.id},
       {"pid", e.pid},
       {"exitCode", e.exit_code},
       {"exitedAt", e.exited_at},
       {"oomKilled", e.oom_killed}};
}

void from_json(const nlohmann::json& j, ExitEvent& e) {
  Get(j, "id", &e.id);
  Get(j, "pid", &e.pid);
  Get(j, "exitCode", &e.exit_code);
  Get(j, "exitedAt", &e.exited_at);
  Get(j, "oomKilled", &e.oom_killed);
}

void to_json(nlohmann::json& j, const ProcessStart& p) {
  j = {{"containerId", p.container_id}, {"execId", p.exec_id},
       {"process", p.process},          {"tty", p.tty},
       {"stdinPath", p.stdin_path},     {"stdoutPath", p.stdout_path},
       {"stderrPath", p.stderr_path}};
}

void from_json(const nlohmann::json& j, ProcessStart& p) {
  Get(j, "containerId", &p.container_id);
  Get(j, "execId", &p.exec_id);
  Get(j, "process", &p.process);
  Get(j, "tty", &p.tty);
  Get(j, "stdinPath", &p.stdin_path);
  Get(j, "stdoutPath", &p.stdout_path);
  Get(j, "stderrPath", &p.stderr_path);
}

}  // namespace cradle::shim
