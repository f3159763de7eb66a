// The protocol between cradled and a pod's cradle-shim, on a unix socket in
// the pod's state dir.
//
// It is not gRPC on purpose: the shim runs once per pod and gRPC's runtime
// alone is ten times the shim's memory budget (2 MiB). Every call is its own
// connection. The client sends one kRequest frame, JSON {"method": ...,
// arguments}; the shim answers one kReply frame, JSON {"code": <absl status
// code>, "message": ..., "result": {...}}. Unary calls end there. Exec,
// Attach and Events go on with stdio, control and event frames until the
// process exits (kExit) or either side closes the connection; a client that
// closes an exec's connection before kExit cancels it (the shim kills the
// process), one that closes an attach's connection detaches.
//
// A frame is a 4-byte big-endian payload length, a 1-byte type and the
// payload. Stdio payloads are raw bytes, the rest JSON.
#ifndef CRADLE_SHIM_API_PROTOCOL_H_
#define CRADLE_SHIM_API_PROTOCOL_H_

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lite/status.h"
#include "nlohmann/json.hpp"

namespace cradle::shim {

enum class FrameType : uint8_t {
  kRequest = 1,     // client -> shim, first frame
  kReply = 2,       // shim -> client, answers kRequest
  kStdin = 3,       // client -> shim: bytes for the process's stdin
  kCloseStdin = 4,  // client -> shim: the process's stdin ends
  kResize = 5,      // client -> shim: {"width", "height"}
  kKill = 6,        // client -> shim, exec only: {"signal"}
  kStdout = 7,      // shim -> client
  kStderr = 8,      // shim -> client
  kExit = 9,        // shim -> client, last: {"exitCode"}
  kEvent = 10,      // shim -> client on Events: an ExitEvent
};

struct Frame {
  FrameType type = FrameType::kRequest;
  std::string payload;
};

// Larger frames are refused: a stray writer cannot make either side
// allocate without bound.
constexpr size_t kMaxFramePayload = 16 << 20;

// Writes a whole frame (without SIGPIPE). Unavailable when the peer is gone.
lite::Status WriteFrame(int fd, FrameType type, std::string_view payload);
// Reads one frame. Unavailable at end of stream, InvalidArgument for a
// frame over kMaxFramePayload.
lite::StatusOr<Frame> ReadFrame(int fd);

// The methods a kRequest names.
inline constexpr char kMethodKey[] = "method";

// A reply: the status and, when OK, the result.
std::string EncodeReply(const lite::Status& status,
                        const nlohmann::json& result = nlohmann::json());
// The result of a reply, or its error.
lite::StatusOr<nlohmann::json> DecodeReply(std::string_view payload);

enum class ContainerStatus {
  kUnknown = 0,
  kCreated = 1,
  kRunning = 2,
  kStopped = 3,
  kPaused = 4,
};
// "CREATED", ...; kUnknown for a name it does not know.
const char* ContainerStatusName(ContainerStatus status);
ContainerStatus ContainerStatusFromName(std::string_view name);

struct CreateRequest {
  std::string id;
  std::string bundle;  // holds config.json; the rootfs is already mounted
  bool tty = false;
  bool stdin = false;
  bool stdin_once = false;  // close stdin after the first attach ends
  std::string log_path;     // the CRI log; empty for none
  // A containerd client's stdio instead of pipes to the shim: FIFOs (or
  // files, "file://" or a plain path) the shim copies the process's output
  // into and its input from. Empty: none (output then only reaches the log
  // and attaches, as for the CRI). With `tty` the terminal is copied from
  // stdin_path and into stdout_path; stderr_path is not used (a terminal
  // has one output).
  std::string stdin_path;
  std::string stdout_path;
  std::string stderr_path;
};

// A process of a running container, started detached and known by its
// exec id until DeleteProcess (containerd's exec model): created with a
// whole OCI process spec, its stdio on paths as in CreateRequest (`tty`
// too). Resize, CloseStdin, State, Wait, Kill and Delete with an "execId"
// are about it.
struct ProcessStart {
  std::string container_id;
  std::string exec_id;
  std::string process;  // OCI runtime-spec "process" JSON
  bool tty = false;
  std::string stdin_path;
  std::string stdout_path;
  std::string stderr_path;
};

struct ContainerState {
  std::string id;
  int pid = 0;
  ContainerStatus status = ContainerStatus::kUnknown;
  int exit_code = 0;
  int64_t started_at = 0;  // unix nanoseconds; 0 when not yet
  int64_t exited_at = 0;
  bool oom_killed = false;
  std::string bundle;
  std::string log_path;
};

struct ExecStart {
  std::string container_id;
  std::vector<std::string> args;
  bool tty = false;
  bool stdin = false;
};

struct ExitEvent {
  std::string id;
  int pid = 0;
  int exit_code = 0;
  int64_t exited_at = 0;
  bool oom_killed = false;
};

// JSON forms (nlohmann's to_json/from_json, found by argument lookup).
// Decoding is lenient: missing fields keep their defaults; a field of the
// wrong type throws nlohmann::json::exception.
void to_json(nlohmann::json& j, const CreateRequest& r);
void from_json(const nlohmann::json& j, CreateRequest& r);
void to_json(nlohmann::json& j, const ContainerState& s);
void from_json(const nlohmann::json& j, ContainerState& s);
void to_json(nlohmann::json& j, const ExecStart& e);
void from_json(const nlohmann::json& j, ExecStart& e);
void to_json(nlohmann::json& j, const ExitEvent& e);
void to_json(nlohmann::json& j, const ProcessStart& p);
void from_json(const nlohmann::json& j, ProcessStart& p);
void from_json(const nlohmann::json& j, ExitEvent& e);

// The integer `value` as T. nlohmann would convert a float (JSON has no
// integer limit, so 1e30 or 2^64 arrive as floats) by a plain cast, which is
// undefined when out of range; this accepts only integers that T holds and
// throws nlohmann's type_error otherwise, which callers catch per call.
template <typename T>
T CheckedInteger(const nlohmann::json& value, const char* key) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  bool fits = false;
  if (value.is_number_unsigned()) {
    fits = value.get<uint64_t>() <=
           static_cast<uint64_t>(std::numeric_limits<T>::max());
  } else if (value.is_number_integer()) {
    int64_t v = value.get<int64_t>();
    fits = std::is_signed_v<T>
               ? v >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                     v <= static_cast<int64_t>(std::numeric_limits<T>::max())
               : v >= 0 &&
                     static_cast<uint64_t>(v) <= std::numeric_limits<T>::max();
  }
  if (!fits) {
    throw nlohmann::json::type_error::create(
        302, lite::StrCat("\"", key, "\" is not an integer in range"), &value);
  }
  return value.is_number_unsigned() ? static_cast<T>(value.get<uint64_t>())
                                    : static_cast<T>(value.get<int64_t>());
}

// The integer at `key` of the object `j`, or `fallback` when it is absent
// or null; throws as CheckedInteger does.
template <typename T>
T IntegerOr(const nlohmann::json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return CheckedInteger<T>(*it, key);
}

// Parses JSON text into T; InvalidArgument naming `what` when it is not.
template <typename T>
lite::StatusOr<T> Decode(std::string_view text, const char* what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return lite::InvalidArgumentError(lite::StrCat(what, " is not JSON"));
  }
  try {
    return j.get<T>();
  } catch (const nlohmann::json::exception& e) {
    return lite::InvalidArgumentError(lite::StrCat(what, ": ", e.what()));
  }
}

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_API_PROTOCOL_H_
