// Counts every call on the daemon's socket (CRI and containerd's API,
// unary and streaming) and times it, by full method name and status code:
//   cradle_grpc_server_handled_total{grpc_method,grpc_code}
//   cradle_grpc_server_handling_seconds{grpc_method,grpc_code}
//   cradle_grpc_server_started_total{grpc_method}
// A call is timed from when gRPC hands it to the server until its status is
// sent (for a stream: until it ends).
#ifndef CRADLE_CRI_SERVER_GRPC_METRICS_H_
#define CRADLE_CRI_SERVER_GRPC_METRICS_H_

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include "metrics/metrics.h"

namespace cradle {

// "OK", "NotFound", ... as gRPC's other languages name the codes.
const char* GrpcCodeName(grpc::StatusCode code);

class GrpcMetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // Registers the families in `registry` (which must outlive the server).
  explicit GrpcMetricsInterceptorFactory(metrics::Registry* registry);

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  metrics::Counter* started_;
  metrics::Counter* handled_;
  metrics::Histogram* seconds_;
};

}  // namespace cradle

#endif  // CRADLE_CRI_SERVER_GRPC_METRICS_H_
