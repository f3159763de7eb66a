// containerd's Images service (containerd.services.images.v1): image records
// (name -> target descriptor) of the request's namespace, the same records the
// CRI keeps.
#ifndef CRADLE_CONTAINERD_API_IMAGES_SERVICE_H_
#define CRADLE_CONTAINERD_API_IMAGES_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// `deps` and what it points to must outlive the service.
std::unique_ptr<grpc::Service> NewImagesService(const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_IMAGES_SERVICE_H_
