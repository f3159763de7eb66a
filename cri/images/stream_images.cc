// StreamImages: ListImages' answer in chunks. It runs ListImages itself so
// the two filter alike; only each message must stay under gRPC's limit.
#include "cri/images/image_service.h"
#include "cri/stream/chunked_list.h"
#include "glog/logging.h"

namespace cradle {

grpc::Status ImageService::StreamImages(
    grpc::ServerContext* context,
    const runtime::v1::StreamImagesRequest* request,
    grpc::ServerWriter<runtime::v1::StreamImagesResponse>* writer) {
  runtime::v1::ListImagesRequest list;
  if (request->has_filter()) *list.mutable_filter() = request->filter();
  runtime::v1::ListImagesResponse all;
  if (grpc::Status s = ListImages(context, &list, &all); !s.ok()) return s;
  grpc::Status s =
      StreamInChunks(all.mutable_images(), writer,
                     &runtime::v1::StreamImagesResponse::mutable_images);
  if (!s.ok())
    LOG(WARNING) << "StreamImages stream ended: " << s.error_message();
  return s;
}

}  // namespace cradle
