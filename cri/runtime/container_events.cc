#include "cri/runtime/container_events.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace cradle {

// One subscriber's events. `end` turns non-OK once, and the queue is
// emptied then: a dropped or closed subscriber holds no memory.
struct ContainerEvents::Queue {
  absl::Mutex mu;
  std::deque<std::shared_ptr<const Event>> events ABSL_GUARDED_BY(mu);
  absl::Status end ABSL_GUARDED_BY(mu);

  bool Ready() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return !events.empty() || !end.ok();
  }
  void End(absl::Status why) ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    if (!end.ok()) return;
    end = std::move(why);
    events.clear();
  }
};

// Shared with the subscriptions, which the gRPC threads may still hold
// after the broadcaster is gone.
struct ContainerEvents::Hub {
  explicit Hub(size_t limit) : limit(limit) {}
  const size_t limit;
  absl::Mutex mu;  // before any Queue::mu
  std::vector<std::shared_ptr<Queue>> queues ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
  uint64_t subscribed ABSL_GUARDED_BY(mu) = 0;
};

ContainerEvents::ContainerEvents(size_t queue_limit)
    : hub_(std::make_shared<Hub>(std::max<size_t>(1, queue_limit))) {}

ContainerEvents::~ContainerEvents() { Close(); }

void ContainerEvents::Close() {
  absl::MutexLock lock(&hub_->mu);
  hub_->closed = true;
  for (const std::shared_ptr<Queue>& q : hub_->queues) {
    q->End(absl::UnavailableError("the runtime is shutting down"));
  }
  hub_->queues.clear();
}

std::unique_ptr<ContainerEvents::Subscription> ContainerEvents::Subscribe() {
  auto queue = std::make_shared<Queue>();
  uint64_t id = 0;
  {
    absl::MutexLock lock(&hub_->mu);
    id = ++hub_->subscribed;
    if (hub_->closed) {
      queue->End(absl::UnavailableError("the runtime is shutting down"));
    } else {
      hub_->queues.push_back(queue);
    }
  }
  return std::unique_ptr<Subscription>(new Subscription(hub_, queue, id));
}

void ContainerEvents::Publish(std::shared_ptr<const Event> event) {
  absl::MutexLock lock(&hub_->mu);
  auto& queues = hub_->queues;
  auto kept = std::remove_if(
      queues.begin(), queues.end(), [&](const std::shared_ptr<Queue>& q) {
        absl::MutexLock qlock(&q->mu);
        if (!q->end.ok()) return true;  // closed meanwhile
        if (q->events.size() < hub_->limit) {
          q->events.push_back(event);
          return false;
        }
        LOG(WARNING) << "container events: a subscriber fell " << hub_->limit
                     << " events behind; dropping it";
        q->end = absl::ResourceExhaustedError(absl::StrCat(
            "GetContainerEvents: this subscriber fell more than ", hub_->limit,
            " events behind and was dropped; subscribe again and relist"));
        q->events.clear();
        return true;
      });
  queues.erase(kept, queues.end());
}

bool ContainerEvents::HasSubscribers() { return Subscribers() > 0; }

size_t ContainerEvents::Subscribers() {
  absl::MutexLock lock(&hub_->mu);
  return hub_->queues.size();
}

ContainerEvents::Subscription::~Subscription() { Close(); }

void ContainerEvents::Subscription::Close() {
  {
    absl::MutexLock lock(&hub_->mu);
    auto& queues = hub_->queues;
    queues.erase(std::remove(queues.begin(), queues.end(), queue_),
                 queues.end());
  }
  queue_->End(absl::CancelledError("GetContainerEvents: unsubscribed"));
}

absl::StatusOr<std::shared_ptr<const ContainerEvents::Event>>
ContainerEvents::Subscription::Next(absl::Duration timeout) {
  Queue& q = *queue_;
  absl::MutexLock lock(&q.mu);
  q.mu.AwaitWithTimeout(absl::Condition(&q, &Queue::Ready), timeout);
  if (!q.end.ok()) return q.end;
  if (q.events.empty()) {
    return absl::DeadlineExceededError("no container event yet");
  }
  std::shared_ptr<const Event> next = std::move(q.events.front());
  q.events.pop_front();
  return next;
}

}  // namespace cradle
