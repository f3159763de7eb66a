#include "cri/runtime/container_events.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"

namespace cradle {
namespace {

using Event = ContainerEvents::Event;

std::shared_ptr<const Event> MakeEvent(const std::string& id,
                                       runtime::v1::ContainerEventType type) {
  auto e = std::make_shared<Event>();
  e->set_container_id(id);
  e->set_container_event_type(type);
  return e;
}

std::string NextId(ContainerEvents::Subscription& sub) {
  absl::StatusOr<std::shared_ptr<const Event>> e = sub.Next(absl::Seconds(5));
  if (!e.ok()) return std::string(e.status().message());
  return (*e)->container_id();
}

TEST(ContainerEventsTest, EverySubscriberGetsEveryEventInOrder) {
  ContainerEvents events;
  std::unique_ptr<ContainerEvents::Subscription> a = events.Subscribe();
  std::unique_ptr<ContainerEvents::Subscription> b = events.Subscribe();
  EXPECT_EQ(events.Subscribers(), 2u);
  events.Publish(MakeEvent("one", runtime::v1::CONTAINER_CREATED_EVENT));
  events.Publish(MakeEvent("two", runtime::v1::CONTAINER_STARTED_EVENT));
  EXPECT_EQ(NextId(*a), "one");
  EXPECT_EQ(NextId(*a), "two");
  EXPECT_EQ(NextId(*b), "one");
  EXPECT_EQ(NextId(*b), "two");
}

TEST(ContainerEventsTest, NextTimesOutWhenNothingComes) {
  ContainerEvents events;
  std::unique_ptr<ContainerEvents::Subscription> sub = events.Subscribe();
  absl::StatusOr<std::shared_ptr<const Event>> e =
      sub->Next(absl::Milliseconds(20));
  EXPECT_TRUE(absl::IsDeadlineExceeded(e.status())) << e.status();
  // Still subscribed: a timeout is not the end.
  events.Publish(MakeEvent("later", runtime::v1::CONTAINER_CREATED_EVENT));
  EXPECT_EQ(NextId(*sub), "later");
}

TEST(ContainerEventsTest, WaitingNextWakesOnPublish) {
  ContainerEvents events;
  std::unique_ptr<ContainerEvents::Subscription> sub = events.Subscribe();
  std::string got;
  std::thread reader([&] { got = NextId(*sub); });
  events.Publish(MakeEvent("woken", runtime::v1::CONTAINER_CREATED_EVENT));
  reader.join();
  EXPECT_EQ(got, "woken");
}

TEST(ContainerEventsTest, SlowSubscriberIsDroppedOthersKeepReceiving) {
  constexpr size_t kLimit = 8;
  ContainerEvents events(kLimit);
  std::unique_ptr<ContainerEvents::Subscription> stalled = events.Subscribe();
  std::unique_ptr<ContainerEvents::Subscription> reader = events.Subscribe();
  for (size_t i = 0; i < 10 * kLimit; ++i) {
    std::string id = "c" + std::to_string(i);
    events.Publish(MakeEvent(id, runtime::v1::CONTAINER_CREATED_EVENT));
    ASSERT_EQ(NextId(*reader), id);
  }
  EXPECT_EQ(events.Subscribers(), 1u);
  absl::StatusOr<std::shared_ptr<const Event>> e =
      stalled->Next(absl::Seconds(5));
  EXPECT_TRUE(absl::IsResourceExhausted(e.status())) << e.status();
  EXPECT_NE(e.status().message().find("fell more than 8 events behind"),
            std::string::npos)
      << e.status();
  // The end is final, and the reader is unaffected.
  events.Publish(MakeEvent("after", runtime::v1::CONTAINER_DELETED_EVENT));
  EXPECT_TRUE(
      absl::IsResourceExhausted(stalled->Next(absl::Milliseconds(1)).status()));
  EXPECT_EQ(NextId(*reader), "after");
}

TEST(ContainerEventsTest, PublishNeverWaitsForReaders) {
  // Nobody ever reads these: Publish must still return every time, and
  // each subscriber is dropped once its queue is full.
  ContainerEvents events(4);
  std::vector<std::unique_ptr<ContainerEvents::Subscription>> subs;
  for (int i = 0; i < 16; ++i) subs.push_back(events.Subscribe());
  absl::Notification done;
  std::thread publisher([&] {
    for (int i = 0; i < 100000; ++i) {
      events.Publish(MakeEvent("x", runtime::v1::CONTAINER_STARTED_EVENT));
    }
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  publisher.join();
  EXPECT_EQ(events.Subscribers(), 0u);
}

TEST(ContainerEventsTest, ConcurrentPublishersAndReaders) {
  ContainerEvents events(1 << 20);
  constexpr int kPublishers = 4;
  constexpr int kEach = 2000;
  std::unique_ptr<ContainerEvents::Subscription> sub = events.Subscribe();
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&events, p] {
      for (int i = 0; i < kEach; ++i) {
        events.Publish(MakeEvent(std::to_string(p) + ":" + std::to_string(i),
                                 runtime::v1::CONTAINER_CREATED_EVENT));
      }
    });
  }
  // Each publisher's events arrive in the order it published them.
  std::vector<int> next(kPublishers, 0);
  for (int n = 0; n < kPublishers * kEach; ++n) {
    absl::StatusOr<std::shared_ptr<const Event>> e =
        sub->Next(absl::Seconds(30));
    ASSERT_TRUE(e.ok()) << e.status();
    const std::string& id = (*e)->container_id();
    int p = id[0] - '0';
    EXPECT_EQ(id.substr(2), std::to_string(next[p]++));
  }
  for (std::thread& t : publishers) t.join();
}

TEST(ContainerEventsTest, CloseUnsubscribesAndWakesAWaitingReader) {
  ContainerEvents events;
  std::unique_ptr<ContainerEvents::Subscription> sub = events.Subscribe();
  std::unique_ptr<ContainerEvents::Subscription> other = events.Subscribe();
  absl::Status status;
  std::thread reader([&] { status = sub->Next(absl::Seconds(60)).status(); });
  sub->Close();
  reader.join();
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  EXPECT_EQ(events.Subscribers(), 1u);
  other.reset();  // destruction unsubscribes too
  EXPECT_EQ(events.Subscribers(), 0u);
  events.Publish(MakeEvent("nobody", runtime::v1::CONTAINER_CREATED_EVENT));
  EXPECT_TRUE(absl::IsCancelled(sub->Next(absl::ZeroDuration()).status()));
}

TEST(ContainerEventsTest, CloseEndsEverySubscriptionAndRefusesNewOnes) {
  ContainerEvents events;
  std::unique_ptr<ContainerEvents::Subscription> sub = events.Subscribe();
  events.Publish(MakeEvent("dropped", runtime::v1::CONTAINER_CREATED_EVENT));
  events.Close();
  EXPECT_TRUE(absl::IsUnavailable(sub->Next(absl::Seconds(5)).status()));
  std::unique_ptr<ContainerEvents::Subscription> late = events.Subscribe();
  EXPECT_TRUE(absl::IsUnavailable(late->Next(absl::Seconds(5)).status()));
  EXPECT_EQ(events.Subscribers(), 0u);
}

TEST(ContainerEventsTest, ShutdownEndsSubscriptionsThatOutliveIt) {
  auto events = std::make_unique<ContainerEvents>();
  std::unique_ptr<ContainerEvents::Subscription> sub = events->Subscribe();
  absl::Status status;
  std::thread reader([&] { status = sub->Next(absl::Seconds(60)).status(); });
  events.reset();
  reader.join();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  sub.reset();  // after the broadcaster: must not touch freed memory
}

}  // namespace
}  // namespace cradle
