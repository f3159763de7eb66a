#include "cri/server/unimplemented_interceptor.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace cradle {
namespace {

class UnimplementedInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit UnimplementedInterceptor(const char* method)
      : method_(method ? method : "") {}

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
};

class Factory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new UnimplementedInterceptor(info->method());
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeUnimplementedInterceptorFactory() {
  return std::make_unique<Factory>();
}

}  // namespace cradle
