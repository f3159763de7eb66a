#include "cri/server/cri_server.h"

#include "absl/strings/str_cat.h"
#include "cri/server/grpc_metrics.h"
#include "glog/logging.h"

namespace cradle {

absl::StatusOr<std::unique_ptr<CriServer>> CriServer::Start(
    const CriServerOptions& options, std::unique_ptr<SocketOwnership> socket,
    std::vector<grpc::Service*> services) {
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(absl::StrCat("unix:", socket->TemporaryAddress()),
                           grpc::InsecureServerCredentials(), &bound_port);
  builder.SetMaxReceiveMessageSize(options.max_recv_message_size);
  builder.SetMaxSendMessageSize(options.max_send_message_size);
  for (grpc::Service* service : services) builder.RegisterService(service);
  auto calls = std::make_unique<CallInterceptorFactory>();
  CallInterceptorFactory* calls_ptr = calls.get();
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::move(calls));
  if (options.metrics != nullptr) {
    interceptors.push_back(
        std::make_unique<GrpcMetricsInterceptorFactory>(options.metrics));
  }
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on unix:", socket->TemporaryAddress()));
  }
  if (absl::Status s = socket->Publish(options.gid); !s.ok()) {
    server->Shutdown();
    return s;
  }
  LOG(INFO) << "serving CRI v1 on unix://" << options.address;
  return std::unique_ptr<CriServer>(
      new CriServer(std::move(socket), std::move(server), calls_ptr));
}

CriServer::~CriServer() = default;

void CriServer::Wait() { server_->Wait(); }

void CriServer::Shutdown(absl::Duration grace) {
  // Withdraw first so no new client finds the socket while we drain.
  socket_->Withdraw();
  absl::Time deadline = absl::Now() + grace;
  while (calls_->InFlight() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (int left = calls_->InFlight(); left > 0) {
    LOG(WARNING) << "cancelling " << left << " calls still running after "
                 << grace;
  }
  // Nothing left to drain: close the (idle) client connections right away.
  server_->Shutdown(absl::ToChronoTime(absl::Now()));
}

}  // namespace cradle
