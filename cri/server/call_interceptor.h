// Server-side bookkeeping for every CRI call.
//
// 1. Names the RPC in every UNIMPLEMENTED answer. gRPC's generated service
//    base answers an RPC nobody overrides with UNIMPLEMENTED and an empty
//    message; cradle builds the CRI one capability at a time, so a client
//    must be able to tell "this runtime does not do X yet" from a broken
//    connection.
// 2. Counts calls in flight, so shutdown can wait for exactly those (gRPC's
//    own shutdown also waits for idle client connections to go away, which a
//    kubelet never does on its own).
#ifndef CRADLE_CRI_SERVER_CALL_INTERCEPTOR_H_
#define CRADLE_CRI_SERVER_CALL_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <memory>

namespace cradle {

class CallInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

  // Calls started and not yet finished.
  int InFlight() const { return in_flight_->load(); }

 private:
  // Shared with the interceptors, which may outlive the factory's owner.
  std::shared_ptr<std::atomic<int>> in_flight_ =
      std::make_shared<std::atomic<int>>(0);
};

}  // namespace cradle

#endif  // CRADLE_CRI_SERVER_CALL_INTERCEPTOR_H_
