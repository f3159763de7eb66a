// Fan-out of container lifecycle events to GetContainerEvents streams.
//
// Publish() hands each event to every open subscription; a subscription
// reads them in order with Next(). Each subscription queues at most
// `queue_limit` events: one that falls further behind is dropped (its
// queue freed, Next() answering RESOURCE_EXHAUSTED) rather than making the
// publisher wait or grow without bound, so a client that stops reading
// never holds up the RPCs that publish. A dropped client resubscribes and
// relists, as the kubelet does on a broken event stream.
#ifndef CRADLE_CRI_RUNTIME_CONTAINER_EVENTS_H_
#define CRADLE_CRI_RUNTIME_CONTAINER_EVENTS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cri/api/runtime/v1/cri.h"

namespace cradle {

// Thread-safe. Publish() takes two short locks and never waits for a
// reader.
class ContainerEvents {
 public:
  using Event = runtime::v1::ContainerEventResponse;
  static constexpr size_t kDefaultQueueLimit = 1024;

  class Subscription;

  explicit ContainerEvents(size_t queue_limit = kDefaultQueueLimit);
  // Close()s. Subscriptions may outlive this object.
  ~ContainerEvents();
  ContainerEvents(const ContainerEvents&) = delete;
  ContainerEvents& operator=(const ContainerEvents&) = delete;

  // A subscription that receives every event published from now on.
  std::unique_ptr<Subscription> Subscribe();
  // Queues `event` for every subscription; drops those whose queue is full.
  void Publish(std::shared_ptr<const Event> event);
  // Ends every subscription (Next() answers UNAVAILABLE) and refuses new
  // ones: for a daemon that is shutting down, whose event streams would
  // otherwise stay open until the server cancels them.
  void Close();
  // Whether anyone listens: callers skip building events nobody reads.
  bool HasSubscribers();
  size_t Subscribers();

 private:
  struct Queue;
  struct Hub;
  std::shared_ptr<Hub> hub_;
};

class ContainerEvents::Subscription {
 public:
  // Unsubscribes.
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // The next event, waiting up to `timeout` for one. DEADLINE_EXCEEDED
  // when none came in time (the caller may wait again); RESOURCE_EXHAUSTED
  // once dropped for falling behind; CANCELLED after Close(); UNAVAILABLE
  // when the daemon shuts down. Every code but DEADLINE_EXCEEDED is final.
  absl::StatusOr<std::shared_ptr<const Event>> Next(absl::Duration timeout);
  // Unsubscribes; a Next() waiting in another thread returns CANCELLED.
  void Close();
  // Numbers subscriptions for logs: 1, 2, ...
  uint64_t id() const { return id_; }

 private:
  friend class ContainerEvents;
  Subscription(std::shared_ptr<Hub> hub, std::shared_ptr<Queue> queue,
               uint64_t id)
      : hub_(std::move(hub)), queue_(std::move(queue)), id_(id) {}

  std::shared_ptr<Hub> hub_;
  std::shared_ptr<Queue> queue_;
  const uint64_t id_;
};

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_CONTAINER_EVENTS_H_
