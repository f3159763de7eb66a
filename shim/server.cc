#include "shim/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

#include "shim/log.h"

namespace cradle::shim {
namespace {

constexpr int kRequestTimeoutSeconds = 10;
constexpr int kAcceptBackoffMillis = 100;

// A request's "id" (a container id); empty when absent.
std::string IdOf(const nlohmann::json& request) {
  auto it = request.find("id");
  return it != request.end() && it->is_string() ? it->get<std::string>() : "";
}

template <typename T>
nlohmann::json ResultOf(const lite::StatusOr<T>& r) {
  return r.ok() ? nlohmann::json(*r) : nlohmann::json();
}

// Runs a unary call; the reply's result is JSON (null for none).
lite::StatusOr<nlohmann::json> Call(ShimService* service,
                                    const std::string& method,
                                    const nlohmann::json& request,
                                    const StreamConnection& client) {
  std::string id = IdOf(request);
  auto status_only =
      [](const lite::Status& s) -> lite::StatusOr<nlohmann::json> {
    if (!s.ok()) return s;
    return nlohmann::json::object();
  };
  auto state = [](const lite::StatusOr<ContainerState>& s)
      -> lite::StatusOr<nlohmann::json> {
    if (!s.ok()) return s.status();
    return nlohmann::json(*s);
  };
  if (method == "Info") {
    return nlohmann::json{{"pid", getpid()},
                          {"containers", service->ContainerCount()}};
  }
  if (method == "Create") {
    lite::StatusOr<int> pid = service->Create(request.get<CreateRequest>());
    if (!pid.ok()) return pid.status();
    return nlohmann::json{{"pid", *pid}};
  }
  // A call naming an "execId" is about that detached process of the
  // container, not its init.
  std::string exec_id = request.value("execId", std::string());
  if (method == "StartProcess") {
    lite::StatusOr<int> pid =
        service->StartProcess(request.get<ProcessStart>());
    if (!pid.ok()) return pid.status();
    return nlohmann::json{{"pid", *pid}};
  }
  if (!exec_id.empty()) {
    if (method == "State") return state(service->ProcessState(id, exec_id));
    if (method == "Wait")
      return state(service->WaitProcess(id, exec_id, client));
    if (method == "Kill") {
      return status_only(
          service->KillProcess(id, exec_id, IntegerOr(request, "signal", 0)));
    }
    if (method == "Delete") return state(service->DeleteProcess(id, exec_id));
    if (method == "CloseStdin")
      return status_only(service->CloseProcessStdin(id, exec_id));
    if (method == "Resize") {
      return status_only(
          service->ResizeProcess(id, exec_id, IntegerOr(request, "width", 0u),
                                 IntegerOr(request, "height", 0u)));
    }
    return lite::InvalidArgumentError(
        lite::StrCat(method, " does not take an execId"));
  }
  if (method == "Pids") {
    lite::StatusOr<std::vector<int>> pids = service->Pids(id);
    if (!pids.ok()) return pids.status();
    return nlohmann::json{{"pids", *pids}};
  }
  if (method == "Start") return state(service->Start(id));
  if (method == "Kill") {
    return status_only(service->Kill(id, IntegerOr(request, "signal", 0),
                                     request.value("all", false)));
  }
  if (method == "Delete") return state(service->Delete(id));
  if (method == "State") return state(service->State(id));
  if (method == "List") return nlohmann::json(service->List());
  if (method == "Wait") return state(service->Wait(id, client));
  if (method == "Resize") {
    return status_only(service->Resize(id, IntegerOr(request, "width", 0u),
                                       IntegerOr(request, "height", 0u)));
  }
  if (method == "CloseStdin") return status_only(service->CloseStdin(id));
  if (method == "ReopenLog") return status_only(service->ReopenLog(id));
  if (method == "Update") {
    return status_only(
        service->Update(id, request.value("resources", std::string())));
  }
  if (method == "Pause") return status_only(service->Pause(id));
  if (method == "Resume") return status_only(service->Resume(id));
  if (method == "Shutdown") return status_only(service->Shutdown());
  return lite::Status(lite::StatusCode::kUnimplemented,
                      lite::StrCat("the shim has no method \"", method, "\""));
}

// Closes a connection's fd however its call ends, exceptions included.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() { close(fd_); }

 private:
  const int fd_;
};

}  // namespace

void ShimServer::Handle(int fd) {
  FdCloser closer(fd);
  ShimService* service = service_;
  StreamConnection client(fd);
  // A connection that never sends its request must not hold a thread
  // forever; streams then wait on their input as long as they like.
  timeval limit{kRequestTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  lite::StatusOr<Frame> first = ReadFrame(fd);
  timeval none{0, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
  nlohmann::json request;
  if (first.ok() && first->type == FrameType::kRequest) {
    request = nlohmann::json::parse(first->payload, nullptr, false);
  }
  if (!request.is_object() ||
      !request.value(kMethodKey, nlohmann::json()).is_string()) {
    if (first.ok()) {
      client.Reply(lite::InvalidArgumentError(
          "a call starts with a request frame: JSON with a \"method\""));
    }
    return;
  }
  std::string method = request[kMethodKey];
  try {
    if (method == "Exec") {
      service->Exec(request.get<ExecStart>(), &client);
    } else if (method == "Attach") {
      service->Attach(IdOf(request), &client);
    } else if (method == "Events") {
      service->Events(&client);
    } else {
      lite::StatusOr<nlohmann::json> result =
          Call(service, method, request, client);
      client.Reply(result.status(), ResultOf(result));
      if (method == "Shutdown" && result.ok()) {
        service->Stop();
        (void)!write(wake_[1], "x", 1);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    // Argument decoding, before anything ran, in practice. A stream that
    // answered already ends without a second reply.
    if (!client.replied()) {
      client.Reply(lite::InvalidArgumentError(
          lite::StrCat("bad arguments to ", method, ": ", e.what())));
    }
  } catch (const std::system_error& e) {
    // A stream that could not get its thread (a pids limit): the call
    // fails, the shim and its other calls go on.
    if (!client.replied()) {
      client.Reply(
          lite::Status(lite::StatusCode::kResourceExhausted,
                       lite::StrCat(method, ": out of threads: ", e.what())));
    }
  } catch (const std::exception& e) {
    // Anything else (out of memory): this call fails, nothing else.
    LogError(lite::StrCat(method, " failed: ", e.what()));
    if (!client.replied()) {
      client.Reply(lite::InternalError(lite::StrCat(method, ": ", e.what())));
    }
  }
}

lite::StatusOr<std::unique_ptr<ShimServer>> ShimServer::Listen(
    const std::string& socket_path, ShimService* service) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(address.sun_path)) {
    return lite::InvalidArgumentError("socket path too long: " + socket_path);
  }
  strncpy(address.sun_path, socket_path.c_str(), sizeof(address.sun_path) - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return lite::InternalError(lite::StrCat("socket: ", strerror(errno)));
  unlink(socket_path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      chmod(socket_path.c_str(), 0600) != 0 || listen(fd, 64) != 0) {
    std::string why = strerror(errno);
    close(fd);
    return lite::InternalError(
        lite::StrCat("cannot listen on ", socket_path, ": ", why));
  }
  int wake[2];
  if (pipe2(wake, O_CLOEXEC) != 0) {
    close(fd);
    return lite::InternalError(lite::StrCat("pipe: ", strerror(errno)));
  }
  return std::unique_ptr<ShimServer>(
      new ShimServer(socket_path, fd, wake, service));
}

ShimServer::~ShimServer() {
  close(listener_);
  close(wake_[0]);
  close(wake_[1]);
  unlink(socket_.c_str());
}

void ShimServer::Serve() {
  while (!service_->stopped()) {
    pollfd p[2] = {{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (poll(p, 2, -1) <= 0 || p[0].revents == 0) continue;
    int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        LogError(lite::StrCat("accept: ", strerror(errno)));
        // Out of fds or memory: the listener stays readable, so waiting
        // a little keeps the loop from spinning until a call ends.
        poll(&p[1], 1, kAcceptBackoffMillis);
      }
      continue;
    }
    // Calls are few and short, or streams that live as long as a process:
    // a thread each keeps the shim simple.
    try {
      std::thread([this, fd] {
        try {
          Handle(fd);
        } catch (...) {
          // Handle answers its own errors; whatever is left (a failed
          // reply) ends this call only, never the process.
          LogError("a call ended with an unexpected exception");
        }
      }).detach();
    } catch (const std::system_error& e) {
      // Out of threads: this call is refused, the shim lives on.
      StreamConnection client(fd);
      client.Reply(lite::Status(
          lite::StatusCode::kResourceExhausted,
          lite::StrCat("the shim cannot take the call now: ", e.what())));
      close(fd);
    }
  }
}

}  // namespace cradle::shim
