#include "cri/runtime/runtime_service.h"

namespace cradle {

// The kubelet API version every CRI v1 runtime reports (containerd does too).
constexpr char kKubeletApiVersion[] = "0.1.0";

grpc::Status RuntimeService::Version(grpc::ServerContext*,
                                     const runtime::v1::VersionRequest*,
                                     runtime::v1::VersionResponse* response) {
  response->set_version(kKubeletApiVersion);
  response->set_runtime_name("cradle");
  response->set_runtime_version(options_.runtime_version);
  response->set_runtime_api_version("v1");
  return grpc::Status::OK;
}

}  // namespace cradle
