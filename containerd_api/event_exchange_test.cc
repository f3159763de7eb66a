// The exchange's bounds on what it holds for a subscriber.
#include "containerd_api/event_exchange.h"

#include <string>

#include "gtest/gtest.h"

namespace cradle::containerd_api {
namespace {

Envelope Big(size_t bytes) {
  Envelope e;
  e.timestamp = absl::Now();
  e.ns = "default";
  e.topic = "/client/big";
  e.event.set_type_url("x.Big");
  e.event.set_value(std::string(bytes, 'x'));
  return e;
}

TEST(EventExchangeTest, DropsASubscriberPastItsByteBudget) {
  EventExchange exchange;
  auto slow = exchange.Subscribe(Filter());
  // 20 events of 1 MiB: past the 16 MiB a queue may hold, though far below
  // its count limit.
  for (int i = 0; i < 20; ++i) exchange.Forward(Big(kMaxEventBytes - 64));
  int delivered = 0;
  Envelope e;
  while (slow->Next(&e)) ++delivered;  // ends: the exchange closed it
  EXPECT_GT(delivered, 0);
  EXPECT_LT(delivered, 20);

  // A subscriber that keeps up is not dropped.
  auto fast = exchange.Subscribe(Filter());
  for (int i = 0; i < 40; ++i) {
    exchange.Forward(Big(kMaxEventBytes - 64));
    ASSERT_TRUE(fast->Next(&e)) << i;
  }
}

}  // namespace
}  // namespace cradle::containerd_api
