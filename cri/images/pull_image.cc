#include "cri/images/image_service.h"
#include "cri/server/grpc_status.h"
#include "glog/logging.h"
#include "registry/auth.h"

namespace cradle {

grpc::Status ImageService::PullImage(
    grpc::ServerContext*, const runtime::v1::PullImageRequest* request,
    runtime::v1::PullImageResponse* response) {
  const std::string& name = request->image().image();
  if (name.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "PullImage: no image given");
  }
  absl::StatusOr<ImageReference> ref = ImageReference::Parse(name);
  if (!ref.ok()) return ToGrpc(ref.status());
  RegistryCredentials creds;
  const runtime::v1::AuthConfig& auth = request->auth();
  creds.username = auth.username();
  creds.password = auth.password();
  creds.identity_token = auth.identity_token();
  creds.registry_token = auth.registry_token();
  if (!auth.auth().empty()) {
    absl::StatusOr<RegistryCredentials> decoded = DecodeAuth(auth.auth());
    if (!decoded.ok()) return ToGrpc(decoded.status());
    creds.username = decoded->username;
    creds.password = decoded->password;
  }
  absl::StatusOr<PulledImage> pulled = options_.puller->Pull(*ref, creds);
  if (!pulled.ok()) {
    LOG(ERROR) << "image=" << ref->String()
               << " pull failed: " << pulled.status();
    // What the failed pull left is no longer leased: collect it.
    (void)options_.gc->Collect();
    return ToGrpc(absl::Status(
        pulled.status().code(),
        absl::StrCat("pull ", ref->String(), ": ", pulled.status().message())));
  }
  response->set_image_ref(pulled->config_digest.ToString());
  return grpc::Status::OK;
}

}  // namespace cradle
