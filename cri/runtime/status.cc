#include "cri/runtime/runtime_service.h"

namespace cradle {
namespace {

void Fill(const char* type, ReadinessCheck& check,
          runtime::v1::RuntimeCondition* condition) {
  Readiness readiness = check.Check();
  condition->set_type(type);
  condition->set_status(readiness.ready);
  if (!readiness.ready) {
    condition->set_reason(readiness.reason);
    condition->set_message(readiness.message);
  }
}

}  // namespace

grpc::Status RuntimeService::Status(grpc::ServerContext*,
                                    const runtime::v1::StatusRequest* request,
                                    runtime::v1::StatusResponse* response) {
  runtime::v1::RuntimeStatus* status = response->mutable_status();
  Fill("RuntimeReady", *options_.runtime_ready, status->add_conditions());
  Fill("NetworkReady", *options_.network_ready, status->add_conditions());
  if (request->verbose()) {
    (*response->mutable_info())["config"] = options_.config_json;
  }
  return grpc::Status::OK;
}

}  // namespace cradle
