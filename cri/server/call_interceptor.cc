#include "cri/server/call_interceptor.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace cradle {
namespace {

class CallInterceptor : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(const char* method,
                  std::shared_ptr<std::atomic<int>> in_flight)
      : method_(method ? method : ""), in_flight_(std::move(in_flight)) {
    ++*in_flight_;
  }
  // gRPC destroys the interceptor when the call is over.
  ~CallInterceptor() override { --*in_flight_; }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          status.error_message().empty()) {
        methods->ModifySendStatus(
            grpc::Status(grpc::StatusCode::UNIMPLEMENTED, Message()));
      }
    }
    methods->Proceed();
  }

 private:
  // "/runtime.v1.RuntimeService/Attach" -> "runtime.v1.RuntimeService.Attach".
  std::string Message() const {
    std::string name(absl::StripPrefix(method_, "/"));
    name = absl::StrReplaceAll(name, {{"/", "."}});
    return absl::StrCat(name, " is not implemented by cradle yet");
  }

  std::string method_;
  std::shared_ptr<std::atomic<int>> in_flight_;
};

}  // namespace

grpc::experimental::Interceptor*
CallInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new CallInterceptor(info->method(), in_flight_);
}

}  // namespace cradle
