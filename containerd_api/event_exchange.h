// containerd's event exchange: every service publishes what it did (an
// envelope of namespace, topic and a typed event), and Events.Subscribe
// streams them to clients such as `ctr events`.
#ifndef CRADLE_CONTAINERD_API_EVENT_EXCHANGE_H_
#define CRADLE_CONTAINERD_API_EVENT_EXCHANGE_H_

#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "containerd_api/api_context.h"

namespace cradle::containerd_api {

// The largest event (its Any's bytes) Events.Publish and Forward accept:
// every subscriber queues a copy.
inline constexpr size_t kMaxEventBytes = size_t{1} << 20;

struct Envelope {
  absl::Time timestamp;
  std::string ns;
  std::string topic;            // "/tasks/start", "/images/create", ...
  google::protobuf::Any event;  // type_url "containerd.events.TaskStart"
};

// Packs `event` the way containerd's clients decode it: the Any's type_url is
// the bare message name ("containerd.events.TaskExit"), no URL prefix.
google::protobuf::Any PackEvent(const google::protobuf::Message& event);

// Thread-safe. Publishing never waits for a subscriber: each has a bounded
// queue, and one that falls behind is dropped (its stream ends).
class EventExchange {
 public:
  class Subscription {
   public:
    // The next envelope matching the subscription's filter; false once the
    // subscription is closed (by Close, by the exchange, or for lagging).
    virtual bool Next(Envelope* out) = 0;
    // Ends Next from any thread.
    virtual void Close() = 0;
    virtual ~Subscription() = default;
  };

  EventExchange() = default;
  virtual ~EventExchange() = default;
  EventExchange(const EventExchange&) = delete;
  EventExchange& operator=(const EventExchange&) = delete;

  void Publish(absl::string_view ns, absl::string_view topic,
               const google::protobuf::Message& event);
  // Envelopes from other sources (Events.Publish / Forward).
  void Forward(Envelope envelope);
  // `filter` is matched against topic, namespace and event fields.
  std::unique_ptr<Subscription> Subscribe(Filter filter);
  // Closes every subscription (daemon shutdown).
  void CloseAll();

 public:
  struct State;  // the subscribers' queues (event_exchange.cc)

 private:
  std::shared_ptr<State> state_ = MakeState();
  static std::shared_ptr<State> MakeState();
};

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_EVENT_EXCHANGE_H_
