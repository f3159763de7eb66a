// The CRI ImageService: pull, list, inspect and remove images.
//
// RPCs this class does not override answer UNIMPLEMENTED with their name.
#ifndef CRADLE_CRI_IMAGES_IMAGE_SERVICE_H_
#define CRADLE_CRI_IMAGES_IMAGE_SERVICE_H_

#include "cri/api/runtime/v1/cri.h"

namespace cradle {

// Thread-safe: gRPC calls the handlers from many threads.
class ImageService final : public runtime::v1::ImageService::Service {
 public:
  ImageService() = default;
};

}  // namespace cradle

#endif  // CRADLE_CRI_IMAGES_IMAGE_SERVICE_H_
