#include "absl/strings/str_cat.h"
#include "cri/images/image_service.h"
#include "cri/server/grpc_status.h"
#include "glog/logging.h"

namespace cradle {

grpc::Status ImageService::RemoveImage(
    grpc::ServerContext*, const runtime::v1::RemoveImageRequest* request,
    runtime::v1::RemoveImageResponse*) {
  const std::string& spec = request->image().image();
  if (spec.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "RemoveImage: no image given");
  }
  if (options_.check_unused) {
    // A container reads an image volume straight from the image's layers.
    absl::StatusOr<CatalogImage> image = options_.catalog->Find(spec);
    if (image.ok()) {
      if (absl::Status s = options_.check_unused(image->id.ToString());
          !s.ok()) {
        return ToGrpc(absl::Status(
            s.code(), absl::StrCat("RemoveImage ", spec, ": ", s.message())));
      }
    }
  }
  absl::Status s = options_.catalog->Remove(spec);
  // Idempotent: removing what is not there succeeds.
  if (s.code() == absl::StatusCode::kNotFound) return grpc::Status::OK;
  if (!s.ok()) return ToGrpc(s);
  LOG(INFO) << "image=" << spec << " removed";
  // Free its blobs and snapshots now, as containerd's CRI does. A failed
  // collection leaves garbage, not a wrong answer: the image is gone.
  if (absl::StatusOr<GcReport> gc = options_.gc->Collect(); !gc.ok()) {
    LOG(WARNING) << "gc after removing image=" << spec << ": " << gc.status();
  }
  return grpc::Status::OK;
}

}  // namespace cradle
