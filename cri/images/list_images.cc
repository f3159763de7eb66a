#include "cri/images/image_service.h"
#include "cri/server/grpc_status.h"
#include "oci/user.h"

namespace cradle {

void ToCriImage(const CatalogImage& image, runtime::v1::Image* out) {
  out->set_id(image.id.ToString());
  for (const std::string& t : image.repo_tags) out->add_repo_tags(t);
  for (const std::string& d : image.repo_digests) out->add_repo_digests(d);
  out->set_size(image.size);
  // The image's default user, read as the spec builder reads it: the
  // kubelet's runAsNonRoot check sees the uid the container runs as.
  oci::ReportedUser user = oci::ReportImageUser(image.config.user);
  if (user.uid) {
    out->mutable_uid()->set_value(*user.uid);
  } else if (!user.username.empty()) {
    out->set_username(user.username);
  }
  out->mutable_spec()->set_image(image.id.ToString());
}

grpc::Status ImageService::ListImages(
    grpc::ServerContext*, const runtime::v1::ListImagesRequest* request,
    runtime::v1::ListImagesResponse* response) {
  if (request->has_filter() && !request->filter().image().image().empty()) {
    absl::StatusOr<CatalogImage> image =
        options_.catalog->Find(request->filter().image().image());
    if (image.status().code() == absl::StatusCode::kNotFound)
      return grpc::Status::OK;
    if (!image.ok()) return ToGrpc(image.status());
    ToCriImage(*image, response->add_images());
    return grpc::Status::OK;
  }
  absl::StatusOr<std::vector<CatalogImage>> images = options_.catalog->List();
  if (!images.ok()) return ToGrpc(images.status());
  for (const CatalogImage& image : *images)
    ToCriImage(image, response->add_images());
  return grpc::Status::OK;
}

}  // namespace cradle
