#include "cri/server/grpc_metrics.h"

#include <string>

#include "absl/time/clock.h"

namespace cradle {

const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "Canceled";
    case grpc::StatusCode::UNKNOWN:
      return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FailedPrecondition";
    case grpc::StatusCode::ABORTED:
      return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "Unimplemented";
    case grpc::StatusCode::INTERNAL:
      return "Internal";
    case grpc::StatusCode::UNAVAILABLE:
      return "Unavailable";
    case grpc::StatusCode::DATA_LOSS:
      return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "Unauthenticated";
    default:
      return "Unknown";
  }
}

namespace {

class GrpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  GrpcMetricsInterceptor(const char* method, metrics::Counter* handled,
                         metrics::Histogram* seconds)
      : method_(method ? method : ""), handled_(handled), seconds_(seconds) {}

  // A call that ends without sending a status (the client went away first)
  // still counts, as Canceled.
  ~GrpcMetricsInterceptor() override {
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    const char* name = GrpcCodeName(code);
    handled_->Inc({method_, name});
    seconds_->Observe({method_, name},
                      absl::ToDoubleSeconds(absl::Now() - start_));
  }

  const std::string method_;
  metrics::Counter* const handled_;
  metrics::Histogram* const seconds_;
  const absl::Time start_ = absl::Now();
  bool recorded_ = false;
};

}  // namespace

GrpcMetricsInterceptorFactory::GrpcMetricsInterceptorFactory(
    metrics::Registry* registry)
    : started_(registry->AddCounter(
          "cradle_grpc_server_started_total",
          "gRPC calls started on the daemon's socket, by full method name.",
          {"grpc_method"})),
      handled_(registry->AddCounter(
          "cradle_grpc_server_handled_total",
          "gRPC calls finished on the daemon's socket, by full method name "
          "and status code.",
          {"grpc_method", "grpc_code"})),
      seconds_(registry->AddHistogram(
          "cradle_grpc_server_handling_seconds",
          "Time from a gRPC call's start until its status was sent, by full "
          "method name and status code.",
          {"grpc_method", "grpc_code"}, metrics::LatencyBuckets())) {}

grpc::experimental::Interceptor*
GrpcMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const char* method = info->method() ? info->method() : "";
  started_->Inc({method});
  return new GrpcMetricsInterceptor(method, handled_, seconds_);
}

}  // namespace cradle
