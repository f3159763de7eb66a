// The CRI ImageService: pull, list, inspect and remove images, and report
// the image filesystem. One .cc file per RPC; RPCs not overridden answer
// UNIMPLEMENTED with their name.
#ifndef CRADLE_CRI_IMAGES_IMAGE_SERVICE_H_
#define CRADLE_CRI_IMAGES_IMAGE_SERVICE_H_

#include <functional>
#include <string>

#include "cri/api/runtime/v1/cri.h"
#include "images/catalog.h"
#include "images/garbage.h"
#include "images/puller.h"

namespace cradle {

struct ImageServiceOptions {
  ImagePuller* puller = nullptr;        // not owned
  ImageCatalog* catalog = nullptr;      // not owned
  ImageGarbageCollector* gc = nullptr;  // not owned; runs after removals
  std::string image_fs_dir;  // where unpacked layers live (ImageFsInfo)
  // FailedPrecondition naming a container while one mounts the image
  // ("sha256:<config digest>") as a volume; unset: never in use.
  std::function<absl::Status(const std::string& image_id)> check_unused;
};

// Thread-safe: gRPC calls the handlers from many threads.
class ImageService final : public runtime::v1::ImageService::Service {
 public:
  explicit ImageService(ImageServiceOptions options) : options_(options) {}

  grpc::Status PullImage(grpc::ServerContext* context,
                         const runtime::v1::PullImageRequest* request,
                         runtime::v1::PullImageResponse* response) override;
  grpc::Status ListImages(grpc::ServerContext* context,
                          const runtime::v1::ListImagesRequest* request,
                          runtime::v1::ListImagesResponse* response) override;
  grpc::Status ImageStatus(grpc::ServerContext* context,
                           const runtime::v1::ImageStatusRequest* request,
                           runtime::v1::ImageStatusResponse* response) override;
  grpc::Status RemoveImage(grpc::ServerContext* context,
                           const runtime::v1::RemoveImageRequest* request,
                           runtime::v1::RemoveImageResponse* response) override;
  grpc::Status ImageFsInfo(grpc::ServerContext* context,
                           const runtime::v1::ImageFsInfoRequest* request,
                           runtime::v1::ImageFsInfoResponse* response) override;
  // ListImages' answer for the same filter, in bounded messages
  // (cri/stream/chunked_list.h).
  grpc::Status StreamImages(
      grpc::ServerContext* context,
      const runtime::v1::StreamImagesRequest* request,
      grpc::ServerWriter<runtime::v1::StreamImagesResponse>* writer) override;

 private:
  const ImageServiceOptions options_;
};

// The CRI form of a catalog image (shared by List and Status).
void ToCriImage(const CatalogImage& image, runtime::v1::Image* out);

}  // namespace cradle

#endif  // CRADLE_CRI_IMAGES_IMAGE_SERVICE_H_
