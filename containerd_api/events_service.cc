#include "containerd_api/events_service.h"

#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "containerd_api/api_context.h"
#include "containerd_api/event_exchange.h"
#include "containerd_api/proto/services/events/v1/events.grpc.pb.h"

namespace cradle::containerd_api {
namespace {

namespace api = ::containerd::services::events::v1;

// How often a subscriber's stream checks that its client is still there:
// Next blocks, so a watcher closes the subscription once the client goes.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(200);

// InvalidArgument for an event over kMaxEventBytes.
absl::Status CheckEventSize(absl::string_view topic,
                            const google::protobuf::Any& event) {
  size_t bytes = event.type_url().size() + event.value().size();
  if (bytes <= kMaxEventBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("event ", topic, " is ", bytes, " bytes, more than the ",
                   kMaxEventBytes, " an event may be"));
}

// containerd's topics are '/'-rooted paths of non-empty components.
absl::Status ValidateTopic(absl::string_view topic) {
  if (topic.empty()) return absl::InvalidArgumentError("a topic is required");
  bool ok = topic.front() == '/' && topic.size() > 1;
  if (ok) {
    for (absl::string_view part : absl::StrSplit(topic.substr(1), '/')) {
      if (part.empty()) ok = false;
    }
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("topic \"", topic, "\" must be a path like /tasks/exit"));
  }
  return absl::OkStatus();
}

class EventsService final : public api::Events::Service {
 public:
  explicit EventsService(EventExchange* events) : events_(events) {}

  grpc::Status Publish(grpc::ServerContext* ctx, const api::PublishRequest* req,
                       google::protobuf::Empty*) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    if (absl::Status s = ValidateTopic(req->topic()); !s.ok()) return ToGrpc(s);
    if (!req->has_event()) {
      return ToGrpc(absl::InvalidArgumentError(
          absl::StrCat("publish ", req->topic(), ": an event is required")));
    }
    if (absl::Status s = CheckEventSize(req->topic(), req->event()); !s.ok())
      return ToGrpc(s);
    events_->Forward(Envelope{absl::Now(), *ns, req->topic(), req->event()});
    return grpc::Status::OK;
  }

  grpc::Status Forward(grpc::ServerContext*, const api::ForwardRequest* req,
                       google::protobuf::Empty*) override {
    const api::Envelope& in = req->envelope();
    if (absl::Status s = ValidateNamespace(in.namespace_()); !s.ok())
      return ToGrpc(s);
    if (absl::Status s = ValidateTopic(in.topic()); !s.ok()) return ToGrpc(s);
    if (absl::Status s = CheckEventSize(in.topic(), in.event()); !s.ok())
      return ToGrpc(s);
    Envelope e;
    e.timestamp = in.has_timestamp() ? FromProto(in.timestamp()) : absl::Now();
    e.ns = in.namespace_();
    e.topic = in.topic();
    e.event = in.event();
    events_->Forward(std::move(e));
    return grpc::Status::OK;
  }

  grpc::Status Subscribe(grpc::ServerContext* ctx,
                         const api::SubscribeRequest* req,
                         grpc::ServerWriter<api::Envelope>* writer) override {
    absl::StatusOr<Filter> filter =
        Filter::Parse({req->filters().begin(), req->filters().end()});
    if (!filter.ok()) return ToGrpc(filter.status());
    // Every namespace's events, as containerd streams them: the filter
    // narrows (namespace==x).
    std::unique_ptr<EventExchange::Subscription> sub =
        events_->Subscribe(*std::move(filter));
    // Sends headers now so the client's Subscribe returns before any event.
    writer->SendInitialMetadata();
    absl::Notification done;
    EventExchange::Subscription* raw = sub.get();
    std::thread watcher([ctx, raw, &done] {
      while (!done.WaitForNotificationWithTimeout(kCancelPoll)) {
        if (ctx->IsCancelled()) {
          raw->Close();
          return;
        }
      }
    });
    Envelope e;
    bool client_gone = false;
    while (raw->Next(&e)) {
      api::Envelope out;
      *out.mutable_timestamp() = ToProto(e.timestamp);
      out.set_namespace_(e.ns);
      out.set_topic(e.topic);
      *out.mutable_event() = std::move(e.event);
      if (!writer->Write(out)) {
        client_gone = true;
        break;
      }
    }
    done.Notify();
    watcher.join();
    if (client_gone || ctx->IsCancelled()) return grpc::Status::CANCELLED;
    // Closed by the exchange: shutdown, or this subscriber fell too far
    // behind to keep.
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "event subscription closed (daemon stopping or the "
                        "subscriber fell behind)");
  }

 private:
  EventExchange* const events_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewEventsService(const ContainerdApiDeps& deps) {
  return std::make_unique<EventsService>(deps.events);
}

}  // namespace cradle::containerd_api
