#include "cri/images/image_service.h"
#include "cri/server/grpc_status.h"
#include "nlohmann/json.hpp"

namespace cradle {

grpc::Status ImageService::ImageStatus(
    grpc::ServerContext*, const runtime::v1::ImageStatusRequest* request,
    runtime::v1::ImageStatusResponse* response) {
  const std::string& spec = request->image().image();
  if (spec.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "ImageStatus: no image given");
  }
  absl::StatusOr<CatalogImage> image = options_.catalog->Find(spec);
  // An absent image is an empty answer, not an error (the CRI's rule).
  if (image.status().code() == absl::StatusCode::kNotFound)
    return grpc::Status::OK;
  if (!image.ok()) return ToGrpc(image.status());
  ToCriImage(*image, response->mutable_image());
  if (request->verbose()) {
    const oci::ImageConfig& c = image->config;
    nlohmann::json info = {
        {"id", image->id.ToString()},
        {"chainID", image->top_chain_id.ToString()},
        {"names", image->names},
        {"config",
         {{"User", c.user},
          {"Env", c.env},
          {"Entrypoint", c.entrypoint},
          {"Cmd", c.cmd},
          {"WorkingDir", c.working_dir},
          {"ExposedPorts", c.exposed_ports},
          {"Volumes", c.volumes},
          {"StopSignal", c.stop_signal},
          {"Labels", c.labels}}},
        {"os", c.os},
        {"architecture", c.architecture},
    };
    (*response->mutable_info())["info"] = info.dump();
  }
  return grpc::Status::OK;
}

}  // namespace cradle
