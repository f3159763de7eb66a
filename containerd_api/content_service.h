// containerd.services.content.v1.Content over cradle's content store: each
// call sees its namespace's view (metadata/content_store.h), and writes
// made under a lease (the containerd-lease header) are held by it.
#ifndef CRADLE_CONTAINERD_API_CONTENT_SERVICE_H_
#define CRADLE_CONTAINERD_API_CONTENT_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "containerd_api/api_deps.h"

namespace cradle::containerd_api {

// `deps.metadata` and `deps.content` are required; `deps.events` may be null.
std::unique_ptr<grpc::Service> NewContentService(const ContainerdApiDeps& deps);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_CONTENT_SERVICE_H_
