// Exec, Attach and PortForward: each checks its request and answers a
// one-time URL on the streaming server, where the client then streams.
#include "absl/strings/str_cat.h"
#include "cri/runtime/runtime_service.h"
#include "cri/server/grpc_status.h"

namespace cradle {
namespace {

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// The stdio rules Exec and Attach share.
grpc::Status CheckStdio(const char* rpc, bool tty, bool stdin, bool stdout,
                        bool stderr) {
  if (tty && stderr) {
    return Invalid(absl::StrCat(
        rpc, ": tty and stderr cannot both be set (a terminal merges them)"));
  }
  if (!stdin && !stdout && !stderr) {
    return Invalid(
        absl::StrCat(rpc, ": at least one of stdin, stdout, stderr is needed"));
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status RuntimeService::Exec(grpc::ServerContext*,
                                  const runtime::v1::ExecRequest* request,
                                  runtime::v1::ExecResponse* response) {
  if (options_.streaming == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "Exec: the streaming server is not running");
  }
  if (request->container_id().empty()) return Invalid("Exec: no container id");
  if (request->cmd().empty()) return Invalid("Exec: cmd is empty");
  if (grpc::Status s = CheckStdio("Exec", request->tty(), request->stdin(),
                                  request->stdout(), request->stderr());
      !s.ok()) {
    return s;
  }
  CriContainer c;
  if (grpc::Status s = FindRunning("Exec", request->container_id(), &c);
      !s.ok()) {
    return s;
  }
  streaming::ExecOptions options;
  options.container_id = c.id;
  options.cmd.assign(request->cmd().begin(), request->cmd().end());
  options.tty = request->tty();
  options.stdin = request->stdin();
  options.stdout = request->stdout();
  options.stderr = request->stderr();
  response->set_url(options_.streaming->ExecUrl(options));
  return grpc::Status::OK;
}

grpc::Status RuntimeService::Attach(grpc::ServerContext*,
                                    const runtime::v1::AttachRequest* request,
                                    runtime::v1::AttachResponse* response) {
  if (options_.streaming == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "Attach: the streaming server is not running");
  }
  if (request->container_id().empty()) {
    return Invalid("Attach: no container id");
  }
  if (grpc::Status s = CheckStdio("Attach", request->tty(), request->stdin(),
                                  request->stdout(), request->stderr());
      !s.ok()) {
    return s;
  }
  CriContainer c;
  if (grpc::Status s = FindRunning("Attach", request->container_id(), &c);
      !s.ok()) {
    return s;
  }
  streaming::AttachOptions options;
  options.container_id = c.id;
  options.tty = request->tty();
  options.stdin = request->stdin();
  options.stdout = request->stdout();
  options.stderr = request->stderr();
  response->set_url(options_.streaming->AttachUrl(options));
  return grpc::Status::OK;
}

grpc::Status RuntimeService::PortForward(
    grpc::ServerContext*, const runtime::v1::PortForwardRequest* request,
    runtime::v1::PortForwardResponse* response) {
  if (options_.streaming == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "PortForward: the streaming server is not running");
  }
  if (request->pod_sandbox_id().empty()) {
    return Invalid("PortForward: no pod sandbox id");
  }
  streaming::PortForwardRequest forward;
  for (int32_t port : request->port()) {
    if (port <= 0 || port > 65535) {
      return Invalid(
          absl::StrCat("PortForward: port ", port, " is outside 1-65535"));
    }
    forward.ports.push_back(port);
  }
  PodRecord pod;
  if (grpc::Status s =
          FindReadyPod("PortForward", request->pod_sandbox_id(), &pod);
      !s.ok()) {
    return s;
  }
  forward.pod_id = pod.id;
  response->set_url(options_.streaming->PortForwardUrl(forward));
  return grpc::Status::OK;
}

}  // namespace cradle
