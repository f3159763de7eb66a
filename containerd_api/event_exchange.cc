#include "containerd_api/event_exchange.h"

#include <list>
#include <utility>

namespace cradle::containerd_api {
namespace {

// A subscriber further behind than this is dropped rather than let the
// exchange hold events for it without bound.
constexpr size_t kQueueLimit = 1024;
// Likewise for the bytes queued: events from Events.Publish are a client's
// and may each be up to kMaxEventBytes.
constexpr size_t kQueueByteLimit = size_t{16} << 20;

size_t EnvelopeBytes(const Envelope& e) {
  return e.ns.size() + e.topic.size() + e.event.type_url().size() +
         e.event.value().size();
}

}  // namespace

google::protobuf::Any PackEvent(const google::protobuf::Message& event) {
  google::protobuf::Any any;
  any.set_type_url(event.GetDescriptor()->full_name());
  event.SerializeToString(any.mutable_value());
  return any;
}

struct EventExchange::State {
  struct Queue {
    Filter filter;
    absl::Mutex mu;
    std::deque<Envelope> envelopes ABSL_GUARDED_BY(mu);
    size_t bytes ABSL_GUARDED_BY(mu) = 0;  // EnvelopeBytes of envelopes
    bool closed ABSL_GUARDED_BY(mu) = false;
  };
  absl::Mutex mu;
  std::list<std::shared_ptr<Queue>> queues ABSL_GUARDED_BY(mu);
};

std::shared_ptr<EventExchange::State> EventExchange::MakeState() {
  return std::make_shared<State>();
}

namespace {

bool EnvelopeMatches(const Filter& filter, const Envelope& e) {
  return filter.Matches(
      [&e](const std::vector<std::string>& path, std::string* value) {
        if (path.size() != 1) return false;
        if (path[0] == "topic") {
          *value = e.topic;
        } else if (path[0] == "namespace") {
          *value = e.ns;
        } else {
          return false;
        }
        return true;
      });
}

}  // namespace

void EventExchange::Publish(absl::string_view ns, absl::string_view topic,
                            const google::protobuf::Message& event) {
  Forward(Envelope{absl::Now(), std::string(ns), std::string(topic),
                   PackEvent(event)});
}

void EventExchange::Forward(Envelope envelope) {
  absl::MutexLock lock(&state_->mu);
  for (auto it = state_->queues.begin(); it != state_->queues.end();) {
    State::Queue& q = **it;
    if (!EnvelopeMatches(q.filter, envelope)) {
      ++it;
      continue;
    }
    absl::MutexLock queue_lock(&q.mu);
    if (q.closed) {
      it = state_->queues.erase(it);
      continue;
    }
    size_t bytes = EnvelopeBytes(envelope);
    if (q.envelopes.size() >= kQueueLimit ||
        q.bytes + bytes > kQueueByteLimit) {
      q.closed = true;
      it = state_->queues.erase(it);
      continue;
    }
    q.bytes += bytes;
    q.envelopes.push_back(envelope);
    ++it;
  }
}

std::unique_ptr<EventExchange::Subscription> EventExchange::Subscribe(
    Filter filter) {
  auto queue = std::make_shared<State::Queue>();
  queue->filter = std::move(filter);
  {
    absl::MutexLock lock(&state_->mu);
    state_->queues.push_back(queue);
  }
  class Sub : public Subscription {
   public:
    explicit Sub(std::shared_ptr<State::Queue> q) : q_(std::move(q)) {}
    ~Sub() override { Close(); }
    bool Next(Envelope* out) override {
      absl::MutexLock lock(&q_->mu);
      q_->mu.Await(absl::Condition(
          +[](State::Queue* q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu) {
            return q->closed || !q->envelopes.empty();
          },
          q_.get()));
      // Deliver what was queued before a close from the exchange, but not
      // after the subscriber itself (or shutdown) closed it.
      if (q_->envelopes.empty()) return false;
      q_->bytes -= EnvelopeBytes(q_->envelopes.front());
      *out = std::move(q_->envelopes.front());
      q_->envelopes.pop_front();
      return true;
    }
    void Close() override {
      absl::MutexLock lock(&q_->mu);
      q_->closed = true;
      q_->envelopes.clear();
      q_->bytes = 0;
    }

   private:
    std::shared_ptr<State::Queue> q_;
  };
  return std::make_unique<Sub>(queue);
}

void EventExchange::CloseAll() {
  absl::MutexLock lock(&state_->mu);
  for (const auto& q : state_->queues) {
    absl::MutexLock queue_lock(&q->mu);
    q->closed = true;
    q->envelopes.clear();
    q->bytes = 0;
  }
  state_->queues.clear();
}

}  // namespace cradle::containerd_api
