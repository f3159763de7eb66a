// StreamPodSandboxes, StreamContainers, StreamContainerStats and
// StreamPodSandboxStats: their List* counterparts' answers, in chunks.
//
// Each runs the List* handler itself, so filtering and the items' content
// can never differ between the two, then moves the items out in bounded
// messages: what must stay under gRPC's limit is each message, and the
// whole list in the daemon's memory is a few MB even for 10,000 items.
#include "cri/runtime/runtime_service.h"
#include "cri/stream/chunked_list.h"
#include "glog/logging.h"

namespace cradle {
namespace {

namespace v1 = runtime::v1;

void LogFailure(const char* rpc, const grpc::Status& s) {
  if (!s.ok()) LOG(WARNING) << rpc << " stream ended: " << s.error_message();
}

}  // namespace

grpc::Status RuntimeService::StreamPodSandboxes(
    grpc::ServerContext* context, const v1::StreamPodSandboxesRequest* request,
    grpc::ServerWriter<v1::StreamPodSandboxesResponse>* writer) {
  v1::ListPodSandboxRequest list;
  *list.mutable_filter() = request->filter();
  v1::ListPodSandboxResponse all;
  if (grpc::Status s = ListPodSandbox(context, &list, &all); !s.ok()) return s;
  grpc::Status s =
      StreamInChunks(all.mutable_items(), writer,
                     &v1::StreamPodSandboxesResponse::mutable_pod_sandboxes);
  LogFailure("StreamPodSandboxes", s);
  return s;
}

grpc::Status RuntimeService::StreamContainers(
    grpc::ServerContext* context, const v1::StreamContainersRequest* request,
    grpc::ServerWriter<v1::StreamContainersResponse>* writer) {
  v1::ListContainersRequest list;
  *list.mutable_filter() = request->filter();
  v1::ListContainersResponse all;
  if (grpc::Status s = ListContainers(context, &list, &all); !s.ok()) return s;
  grpc::Status s =
      StreamInChunks(all.mutable_containers(), writer,
                     &v1::StreamContainersResponse::mutable_containers);
  LogFailure("StreamContainers", s);
  return s;
}

grpc::Status RuntimeService::StreamContainerStats(
    grpc::ServerContext* context,
    const v1::StreamContainerStatsRequest* request,
    grpc::ServerWriter<v1::StreamContainerStatsResponse>* writer) {
  v1::ListContainerStatsRequest list;
  *list.mutable_filter() = request->filter();
  v1::ListContainerStatsResponse all;
  if (grpc::Status s = ListContainerStats(context, &list, &all); !s.ok())
    return s;
  grpc::Status s = StreamInChunks(
      all.mutable_stats(), writer,
      &v1::StreamContainerStatsResponse::mutable_container_stats);
  LogFailure("StreamContainerStats", s);
  return s;
}

grpc::Status RuntimeService::StreamPodSandboxStats(
    grpc::ServerContext* context,
    const v1::StreamPodSandboxStatsRequest* request,
    grpc::ServerWriter<v1::StreamPodSandboxStatsResponse>* writer) {
  v1::ListPodSandboxStatsRequest list;
  *list.mutable_filter() = request->filter();
  v1::ListPodSandboxStatsResponse all;
  if (grpc::Status s = ListPodSandboxStats(context, &list, &all); !s.ok())
    return s;
  grpc::Status s = StreamInChunks(
      all.mutable_stats(), writer,
      &v1::StreamPodSandboxStatsResponse::mutable_pod_sandbox_stats);
  LogFailure("StreamPodSandboxStats", s);
  return s;
}

}  // namespace cradle
