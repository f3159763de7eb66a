// Serves the CRI services on the daemon's unix socket.
#ifndef CRADLE_CRI_SERVER_CRI_SERVER_H_
#define CRADLE_CRI_SERVER_CRI_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cri/server/call_interceptor.h"
#include "cri/server/socket.h"
#include "metrics/metrics.h"

namespace cradle {

struct CriServerOptions {
  std::string address;  // unix socket path
  gid_t gid = 0;
  int max_recv_message_size = 16 << 20;
  int max_send_message_size = 16 << 20;
  // Where every call is counted and timed (grpc_metrics.h); null: nowhere.
  metrics::Registry* metrics = nullptr;
};

class CriServer {
 public:
  // Starts serving `services` (not owned; they must outlive the server) on
  // the socket `socket` owns (taken first, before the daemon opens its
  // stores, so a second daemon is told the socket is taken) and publishes it.
  static absl::StatusOr<std::unique_ptr<CriServer>> Start(
      const CriServerOptions& options, std::unique_ptr<SocketOwnership> socket,
      std::vector<grpc::Service*> services);
  CriServer(const CriServer&) = delete;
  CriServer& operator=(const CriServer&) = delete;
  ~CriServer();

  // Blocks until Shutdown() has finished.
  void Wait();
  // Removes the socket, lets calls in flight finish until `grace` has passed
  // (then cancels them) and closes every connection. Safe from any thread.
  void Shutdown(absl::Duration grace);

 private:
  CriServer(std::unique_ptr<SocketOwnership> socket,
            std::unique_ptr<grpc::Server> server, CallInterceptorFactory* calls)
      : socket_(std::move(socket)), server_(std::move(server)), calls_(calls) {}

  std::unique_ptr<SocketOwnership> socket_;
  std::unique_ptr<grpc::Server> server_;
  CallInterceptorFactory* calls_;  // owned by server_
};

}  // namespace cradle

#endif  // CRADLE_CRI_SERVER_CRI_SERVER_H_
