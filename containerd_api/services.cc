#include "containerd_api/services.h"

// Each service's factory (one header per service).
#include "containerd_api/content_service.h"
#include "containerd_api/events_service.h"
// [factory includes]
#include "containerd_api/containers_service.h"
#include "containerd_api/diff_service.h"
#include "containerd_api/images_service.h"
#include "containerd_api/introspection_service.h"
#include "containerd_api/leases_service.h"
#include "containerd_api/namespaces_service.h"
#include "containerd_api/snapshots_service.h"
#include "containerd_api/tasks_service.h"
#include "containerd_api/version_service.h"

namespace cradle::containerd_api {

std::vector<std::unique_ptr<grpc::Service>> NewContainerdServices(
    const ContainerdApiDeps& deps) {
  std::vector<std::unique_ptr<grpc::Service>> services;
  services.push_back(NewContentService(deps));
  services.push_back(NewEventsService(deps));
  // [services]
  services.push_back(NewTasksService(deps));
  services.push_back(NewVersionService(deps));
  services.push_back(NewNamespacesService(deps));
  services.push_back(NewIntrospectionService(deps));
  services.push_back(NewImagesService(deps));
  services.push_back(NewLeasesService(deps));
  services.push_back(NewContainersService(deps));
  services.push_back(NewSnapshotsService(deps));
  services.push_back(NewDiffService(deps));
  return services;
}

void RecoverContainerdServices(
    const std::vector<std::unique_ptr<grpc::Service>>& services) {
  for (const auto& service : services) {
    if (auto* recoverable = dynamic_cast<Recoverable*>(service.get())) {
      recoverable->Recover();
    }
  }
}

}  // namespace cradle::containerd_api
