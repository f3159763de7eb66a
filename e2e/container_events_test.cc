// GetContainerEvents over the real socket: the kubelet's evented PLEG sees
// every container's CREATED, STARTED, STOPPED and DELETED, in order, soon
// after each happens, with its pod's and its containers' statuses.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "e2e/harness/pod_test.h"

namespace cradle::e2e {
namespace {

namespace v1 = runtime::v1;
using ::testing::Contains;
using ::testing::Pair;

// One GetContainerEvents stream. A thread reads it into a queue, so the
// test can wait for the next event with a deadline (a blocking Read has
// none); `read` false opens the stream and never reads it.
class EventStream {
 public:
  EventStream(v1::RuntimeService::Stub& stub, bool read = true) {
    reader_ = stub.GetContainerEvents(&ctx_, v1::GetEventsRequest());
    if (read) thread_ = std::thread([this] { ReadAll(); });
  }
  ~EventStream() {
    ctx_.TryCancel();
    if (thread_.joinable()) thread_.join();
  }

  // The next event, or nullopt when none came within `timeout`.
  std::optional<v1::ContainerEventResponse> Next(
      absl::Duration timeout = absl::Seconds(1)) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !events_.empty() || ended_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    if (events_.empty()) return std::nullopt;
    v1::ContainerEventResponse e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  // How the stream ended, once it has (within `timeout`).
  std::optional<grpc::Status> Ended(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return ended_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ended), timeout)) {
      return std::nullopt;
    }
    return status_;
  }

 private:
  void ReadAll() {
    v1::ContainerEventResponse e;
    while (reader_->Read(&e)) {
      absl::MutexLock lock(&mu_);
      events_.push_back(e);
    }
    grpc::Status s = reader_->Finish();
    absl::MutexLock lock(&mu_);
    status_ = s;
    ended_ = true;
  }

  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::ContainerEventResponse>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::deque<v1::ContainerEventResponse> events_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

// The status the event carries for `id`, or nullptr.
const v1::ContainerStatus* StatusIn(const v1::ContainerEventResponse& e,
                                    const std::string& id) {
  for (const v1::ContainerStatus& s : e.containers_statuses()) {
    if (s.id() == id) return &s;
  }
  return nullptr;
}

class ContainerEventsTest : public PodTest {
 protected:
  ContainerEventsTest() : PodTest(95) {}

  // Waits (bounded) for the streams' first events: then the daemon has
  // them subscribed. A throwaway container makes the events: CREATED,
  // then STOPPED (the shim's delete ends its init), then DELETED.
  void Subscribed(const std::string& pod, std::vector<EventStream*> streams) {
    std::string id;
    grpc::Status s = Create(pod, Config("warmup", {"true"}), &id);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(RemoveC(id).ok());
    for (EventStream* stream : streams) {
      std::optional<v1::ContainerEventResponse> e =
          stream->Next(absl::Seconds(10));
      ASSERT_TRUE(e.has_value()) << "no warm-up event";
      ASSERT_EQ(e->container_id(), id);
      ASSERT_EQ(e->container_event_type(), v1::CONTAINER_CREATED_EVENT);
      do {
        e = stream->Next();
        ASSERT_TRUE(e.has_value()) << "no warm-up DELETED";
        ASSERT_EQ(e->container_id(), id);
      } while (e->container_event_type() != v1::CONTAINER_DELETED_EVENT);
    }
  }

  // The next event must be `type` for `id`, within a second, with the
  // pod's status and the container's own status in `state` (absent for
  // DELETED). Returns it. A container removed before it started may
  // first report STOPPED (the shim's delete ends its waiting init) when
  // that exit is recorded before the record goes: `never_started` skips it.
  v1::ContainerEventResponse Expect(EventStream& stream, const std::string& pod,
                                    const std::string& id,
                                    v1::ContainerEventType type,
                                    v1::ContainerState state,
                                    absl::Time action_began,
                                    bool never_started = false) {
    std::optional<v1::ContainerEventResponse> e = stream.Next();
    if (never_started && e.has_value() && e->container_id() == id &&
        e->container_event_type() == v1::CONTAINER_STOPPED_EVENT) {
      e = stream.Next();
    }
    if (!e.has_value()) {
      ADD_FAILURE() << "no " << v1::ContainerEventType_Name(type)
                    << " within a second";
      return {};
    }
    EXPECT_EQ(e->container_id(), id);
    EXPECT_EQ(v1::ContainerEventType_Name(e->container_event_type()),
              v1::ContainerEventType_Name(type));
    EXPECT_GE(e->created_at(), absl::ToUnixNanos(action_began));
    EXPECT_LE(e->created_at(), absl::ToUnixNanos(absl::Now()));
    EXPECT_EQ(e->pod_sandbox_status().id(), pod);
    EXPECT_EQ(e->pod_sandbox_status().state(), v1::SANDBOX_READY);
    EXPECT_EQ(e->pod_sandbox_status().metadata().name(), "events");
    const v1::ContainerStatus* own = StatusIn(*e, id);
    if (type == v1::CONTAINER_DELETED_EVENT) {
      EXPECT_EQ(own, nullptr) << "a deleted container is no longer listed";
    } else if (own == nullptr) {
      ADD_FAILURE() << "the container's status is missing";
    } else {
      EXPECT_EQ(v1::ContainerState_Name(own->state()),
                v1::ContainerState_Name(state));
      EXPECT_EQ(own->metadata().name(), "main");
      EXPECT_THAT(own->labels(), Contains(Pair("role", "main")));
    }
    return *e;
  }

  // The next event must be `type` for `id` (a container of `pod`, or the
  // pod itself), within 10 s, with the pod's status in `pod_state`.
  v1::ContainerEventResponse ExpectInPod(EventStream& stream,
                                         const std::string& pod,
                                         const std::string& id,
                                         v1::ContainerEventType type,
                                         v1::PodSandboxState pod_state) {
    std::optional<v1::ContainerEventResponse> e =
        stream.Next(absl::Seconds(10));
    if (!e.has_value()) {
      ADD_FAILURE() << "no " << v1::ContainerEventType_Name(type) << " for "
                    << (id == pod ? "the pod" : "its container");
      return {};
    }
    EXPECT_EQ(e->container_id(), id);
    EXPECT_EQ(v1::ContainerEventType_Name(e->container_event_type()),
              v1::ContainerEventType_Name(type));
    EXPECT_EQ(e->pod_sandbox_status().id(), pod);
    EXPECT_EQ(v1::PodSandboxState_Name(e->pod_sandbox_status().state()),
              v1::PodSandboxState_Name(pod_state));
    EXPECT_EQ(e->pod_sandbox_status().metadata().name(), "events");
    return *e;
  }
};

TEST_F(ContainerEventsTest, LifecycleInOrderWithStatuses) {
  std::string pod = RunPod("events");
  EventStream stream(daemon().runtime());
  ASSERT_NO_FATAL_FAILURE(Subscribed(pod, {&stream}));

  // A neighbour whose status every event of the pod carries.
  std::string other;
  ASSERT_TRUE(Create(pod, Config("other", {"sleep", "1000"}), &other).ok());
  ASSERT_TRUE(stream.Next().has_value());  // its CREATED

  absl::Time t = absl::Now();
  std::string id;
  grpc::Status s = Create(pod, Config("main", {"sleep", "1000"}), &id);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::ContainerEventResponse created = Expect(
      stream, pod, id, v1::CONTAINER_CREATED_EVENT, v1::CONTAINER_CREATED, t);
  ASSERT_NE(StatusIn(created, other), nullptr);
  EXPECT_EQ(created.containers_statuses_size(), 2);

  t = absl::Now();
  ASSERT_TRUE(Start(id).ok());
  v1::ContainerEventResponse started = Expect(
      stream, pod, id, v1::CONTAINER_STARTED_EVENT, v1::CONTAINER_RUNNING, t);
  const v1::ContainerStatus* st = StatusIn(started, id);
  ASSERT_NE(st, nullptr);
  EXPECT_GT(st->started_at(), 0);

  t = absl::Now();
  ASSERT_TRUE(StopC(id, 0).ok());
  v1::ContainerEventResponse stopped = Expect(
      stream, pod, id, v1::CONTAINER_STOPPED_EVENT, v1::CONTAINER_EXITED, t);
  st = StatusIn(stopped, id);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->exit_code(), 137);  // SIGKILL
  EXPECT_GT(st->finished_at(), 0);

  t = absl::Now();
  ASSERT_TRUE(RemoveC(id).ok());
  v1::ContainerEventResponse deleted = Expect(
      stream, pod, id, v1::CONTAINER_DELETED_EVENT, v1::CONTAINER_EXITED, t);
  ASSERT_EQ(deleted.containers_statuses_size(), 1);
  EXPECT_EQ(deleted.containers_statuses(0).id(), other);

  // Nothing more for that container: STOPPED came once.
  EXPECT_FALSE(stream.Next(absl::Milliseconds(300)).has_value());

  // RemovePodSandbox deletes what is left, each with its event.
  ASSERT_TRUE(RemovePod(pod).ok());
  std::optional<v1::ContainerEventResponse> e = stream.Next();
  if (e.has_value() &&
      e->container_event_type() == v1::CONTAINER_STOPPED_EVENT) {
    e = stream.Next();  // it never started (see Expect)
  }
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->container_id(), other);
  EXPECT_EQ(v1::ContainerEventType_Name(e->container_event_type()),
            "CONTAINER_DELETED_EVENT");
  EXPECT_EQ(e->containers_statuses_size(), 0);
}

// The pod has events of its own, with container_id == the pod's id, as
// containerd sends them: the kubelet's evented PLEG drops the pod from its
// cache on the sandbox's DELETED. Each carries the pod's status and its
// containers' statuses.
TEST_F(ContainerEventsTest, PodSandboxLifecycleInOrder) {
  // Subscribed (warmed up) through another pod, so that the pod under
  // test is run while the stream listens.
  std::string warmup = RunPod("warmup");
  EventStream stream(daemon().runtime());
  ASSERT_NO_FATAL_FAILURE(Subscribed(warmup, {&stream}));

  std::string pod = RunPod("events");
  ASSERT_FALSE(pod.empty());
  auto expect = [&](const std::string& id, v1::ContainerEventType type,
                    v1::PodSandboxState pod_state) {
    return ExpectInPod(stream, pod, id, type, pod_state);
  };

  v1::ContainerEventResponse e =
      expect(pod, v1::CONTAINER_CREATED_EVENT, v1::SANDBOX_READY);
  EXPECT_EQ(e.containers_statuses_size(), 0);
  expect(pod, v1::CONTAINER_STARTED_EVENT, v1::SANDBOX_READY);
  ASSERT_FALSE(HasFailure());

  // A container, whose status the pod's later events carry.
  std::string id = RunContainer(pod, Config("main", {"sleep", "1000"}));
  ASSERT_FALSE(id.empty());
  expect(id, v1::CONTAINER_CREATED_EVENT, v1::SANDBOX_READY);
  expect(id, v1::CONTAINER_STARTED_EVENT, v1::SANDBOX_READY);

  // Its containers stop first, then the pod.
  ASSERT_TRUE(StopPod(pod).ok());
  expect(id, v1::CONTAINER_STOPPED_EVENT, v1::SANDBOX_READY);
  e = expect(pod, v1::CONTAINER_STOPPED_EVENT, v1::SANDBOX_NOTREADY);
  const v1::ContainerStatus* st = StatusIn(e, id);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(v1::ContainerState_Name(st->state()), "CONTAINER_EXITED");
  // Once per transition: stopping a stopped pod again, and the stop that
  // RemovePodSandbox does, publish nothing.
  ASSERT_TRUE(StopPod(pod).ok());

  ASSERT_TRUE(RemovePod(pod).ok());
  expect(id, v1::CONTAINER_DELETED_EVENT, v1::SANDBOX_NOTREADY);
  e = expect(pod, v1::CONTAINER_DELETED_EVENT, v1::SANDBOX_NOTREADY);
  EXPECT_EQ(e.containers_statuses_size(), 0);
  EXPECT_FALSE(stream.Next(absl::Milliseconds(300)).has_value());
}

// A pod whose shim dies goes NOTREADY without StopPodSandbox: the
// subscriber learns it from the pod's STOPPED, after its containers'.
TEST_F(ContainerEventsTest, DeadShimStopsThePodOnce) {
  std::string pod = RunPod("events");
  EventStream stream(daemon().runtime());
  ASSERT_NO_FATAL_FAILURE(Subscribed(pod, {&stream}));
  std::string id = RunContainer(pod, Config("main", {"sleep", "1000"}));
  ASSERT_FALSE(id.empty());
  ExpectInPod(stream, pod, id, v1::CONTAINER_CREATED_EVENT, v1::SANDBOX_READY);
  ExpectInPod(stream, pod, id, v1::CONTAINER_STARTED_EVENT, v1::SANDBOX_READY);

  pid_t shim = FindHostProcess(
      absl::StrCat("--socket ", daemon().state(), "/s/", pod.substr(0, 24)));
  ASSERT_GT(shim, 0);
  ASSERT_EQ(kill(shim, SIGKILL), 0);
  ExpectInPod(stream, pod, id, v1::CONTAINER_STOPPED_EVENT, v1::SANDBOX_READY);
  v1::ContainerEventResponse e = ExpectInPod(
      stream, pod, pod, v1::CONTAINER_STOPPED_EVENT, v1::SANDBOX_NOTREADY);
  const v1::ContainerStatus* st = StatusIn(e, id);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->exit_code(), 255);

  // The stops that follow find it NOTREADY already: no second STOPPED.
  ASSERT_TRUE(StopPod(pod).ok());
  ASSERT_TRUE(RemovePod(pod).ok());
  ExpectInPod(stream, pod, id, v1::CONTAINER_DELETED_EVENT,
              v1::SANDBOX_NOTREADY);
  ExpectInPod(stream, pod, pod, v1::CONTAINER_DELETED_EVENT,
              v1::SANDBOX_NOTREADY);
  EXPECT_FALSE(stream.Next(absl::Milliseconds(300)).has_value());
}

TEST_F(ContainerEventsTest, ContainerThatExitsByItselfIsStopped) {
  std::string pod = RunPod("events");
  EventStream stream(daemon().runtime());
  ASSERT_NO_FATAL_FAILURE(Subscribed(pod, {&stream}));

  absl::Time t = absl::Now();
  std::string id = RunContainer(pod, Config("main", {"sh", "-c", "exit 3"}));
  ASSERT_FALSE(id.empty());
  Expect(stream, pod, id, v1::CONTAINER_CREATED_EVENT, v1::CONTAINER_CREATED,
         t);
  // STARTED comes first even when the exit is recorded before the start's
  // answer; its status may already show the exit.
  std::optional<v1::ContainerEventResponse> e = stream.Next();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->container_id(), id);
  EXPECT_EQ(v1::ContainerEventType_Name(e->container_event_type()),
            "CONTAINER_STARTED_EVENT");
  e = stream.Next(absl::Seconds(10));
  ASSERT_TRUE(e.has_value()) << "no STOPPED";
  EXPECT_EQ(e->container_id(), id);
  EXPECT_EQ(v1::ContainerEventType_Name(e->container_event_type()),
            "CONTAINER_STOPPED_EVENT");
  const v1::ContainerStatus* st = StatusIn(*e, id);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(st->exit_code(), 3);
  EXPECT_EQ(st->reason(), "Error");
  // Once: the status calls that follow learn nothing new.
  v1::ContainerStatus now;
  ASSERT_TRUE(Status(id, &now).ok());
  EXPECT_EQ(now.exit_code(), 3);
  EXPECT_TRUE(StopC(id, 0).ok());
  EXPECT_FALSE(stream.Next(absl::Milliseconds(300)).has_value());
}

TEST_F(ContainerEventsTest, EverySubscriberReceivesEveryEvent) {
  std::string pod = RunPod("events");
  EventStream a(daemon().runtime());
  EventStream b(daemon().runtime());
  ASSERT_NO_FATAL_FAILURE(Subscribed(pod, {&a, &b}));

  absl::Time t = absl::Now();
  std::string id;
  ASSERT_TRUE(Create(pod, Config("main", {"sleep", "1000"}), &id).ok());
  ASSERT_TRUE(Start(id).ok());
  ASSERT_TRUE(RemoveC(id).ok());  // stops it first
  for (EventStream* stream : {&a, &b}) {
    Expect(*stream, pod, id, v1::CONTAINER_CREATED_EVENT, v1::CONTAINER_CREATED,
           t);
    Expect(*stream, pod, id, v1::CONTAINER_STARTED_EVENT, v1::CONTAINER_RUNNING,
           t);
    Expect(*stream, pod, id, v1::CONTAINER_STOPPED_EVENT, v1::CONTAINER_EXITED,
           t);
    Expect(*stream, pod, id, v1::CONTAINER_DELETED_EVENT, v1::CONTAINER_EXITED,
           t);
  }
  // A subscriber that leaves does not disturb the other.
  { EventStream leaving(daemon().runtime()); }
  t = absl::Now();
  ASSERT_TRUE(Create(pod, Config("main", {"sleep", "1000"}), &id).ok());
  Expect(a, pod, id, v1::CONTAINER_CREATED_EVENT, v1::CONTAINER_CREATED, t);
  Expect(b, pod, id, v1::CONTAINER_CREATED_EVENT, v1::CONTAINER_CREATED, t);
}

// A subscriber that never reads holds up neither the other subscribers
// nor the RPCs that publish. The ~120 events here stay well below the
// queue limit (1024), so the stalled stream is never dropped: dropping a
// subscriber that falls behind is covered by the unit test
// (//cri/runtime:container_events_test,
// SlowSubscriberIsDroppedOthersKeepReceiving).
TEST_F(ContainerEventsTest, NonReadingSubscriberBlocksNeitherOthersNorRpcs) {
  std::string pod = RunPod("events");
  EventStream stalled(daemon().runtime(), /*read=*/false);
  EventStream reader(daemon().runtime());
  ASSERT_NO_FATAL_FAILURE(Subscribed(pod, {&reader}));

  // Each RPC succeeds and the reader gets each event, while the stalled
  // stream's writes stay pending.
  constexpr int kCycles = 60;
  for (int i = 0; i < kCycles; ++i) {
    absl::Time t = absl::Now();
    std::string id;
    grpc::Status s = Create(pod, Config("main", {"sleep", "1000"}), &id);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(RemoveC(id).ok());
    Expect(reader, pod, id, v1::CONTAINER_CREATED_EVENT, v1::CONTAINER_CREATED,
           t);
    Expect(reader, pod, id, v1::CONTAINER_DELETED_EVENT, v1::CONTAINER_EXITED,
           t, /*never_started=*/true);
    if (HasFailure()) break;
  }
  grpc::ClientContext ctx;
  v1::ListContainersResponse list;
  EXPECT_TRUE(daemon()
                  .runtime()
                  .ListContainers(&ctx, v1::ListContainersRequest(), &list)
                  .ok());
  EXPECT_EQ(list.containers_size(), 0);
}

// Event streams never end by themselves; a daemon told to stop ends them
// (UNAVAILABLE) rather than waiting out its drain period for them, which
// the harness would answer with SIGKILL.
TEST_F(ContainerEventsTest, StoppingTheDaemonEndsOpenStreams) {
  std::string pod = RunPod("events");
  EventStream stream(daemon().runtime());
  EventStream stalled(daemon().runtime(), /*read=*/false);
  ASSERT_NO_FATAL_FAILURE(Subscribed(pod, {&stream}));
  // Not OK (DeadlineExceeded) when the harness had to SIGKILL it.
  absl::Status stopped = daemon().Stop(SIGTERM);
  ASSERT_TRUE(stopped.ok()) << stopped;
  // The daemon is gone, so the stream has ended; the wait only bounds the
  // reader thread's last step.
  std::optional<grpc::Status> ended = stream.Ended(absl::Seconds(5));
  ASSERT_TRUE(ended.has_value()) << "the stream outlived the daemon";
  // The daemon's own answer, not a connection the exit broke (that is
  // UNAVAILABLE too, with the transport's message).
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAVAILABLE)
      << ended->error_message();
  EXPECT_EQ(ended->error_message(), "the runtime is shutting down");
}

}  // namespace
}  // namespace cradle::e2e
