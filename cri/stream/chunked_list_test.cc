#include "cri/stream/chunked_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cri/api/runtime/v1/cri.h"

namespace cradle {
namespace {

namespace v1 = runtime::v1;

// Keeps what the handler writes; refuses writes after `fail_after`.
class FakeWriter
    : public grpc::ServerWriterInterface<v1::StreamContainersResponse> {
 public:
  void SendInitialMetadata() override {}
  bool Write(const v1::StreamContainersResponse& msg,
             grpc::WriteOptions) override {
    if (static_cast<int>(sent.size()) >= fail_after) return false;
    sent.push_back(msg);
    return true;
  }
  std::vector<v1::StreamContainersResponse> sent;
  int fail_after = 1 << 30;
};

google::protobuf::RepeatedPtrField<v1::Container> Containers(
    int n, size_t annotation_bytes = 0) {
  google::protobuf::RepeatedPtrField<v1::Container> all;
  for (int i = 0; i < n; ++i) {
    v1::Container* c = all.Add();
    c->set_id("c" + std::to_string(i));
    if (annotation_bytes > 0)
      (*c->mutable_annotations())["big"] = std::string(annotation_bytes, 'x');
  }
  return all;
}

std::vector<std::string> Ids(
    const std::vector<v1::StreamContainersResponse>& sent) {
  std::vector<std::string> ids;
  for (const auto& m : sent)
    for (const auto& c : m.containers()) ids.push_back(c.id());
  return ids;
}

TEST(ChunkedListTest, SplitsByCountAndKeepsOrder) {
  auto items = Containers(10);
  FakeWriter w;
  ChunkLimits limits;
  limits.max_items = 4;
  ASSERT_TRUE(StreamInChunks(&items, &w,
                             &v1::StreamContainersResponse::mutable_containers,
                             limits)
                  .ok());
  ASSERT_EQ(w.sent.size(), 3u);
  EXPECT_EQ(w.sent[0].containers_size(), 4);
  EXPECT_EQ(w.sent[1].containers_size(), 4);
  EXPECT_EQ(w.sent[2].containers_size(), 2);
  EXPECT_EQ(Ids(w.sent), Ids({[] {
              v1::StreamContainersResponse all;
              *all.mutable_containers() = Containers(10);
              return all;
            }()}));
}

TEST(ChunkedListTest, EveryMessageStaysWithinTheByteBudget) {
  auto items = Containers(50, 1000);
  FakeWriter w;
  ChunkLimits limits;
  limits.max_bytes = 8 * 1024;
  ASSERT_TRUE(StreamInChunks(&items, &w,
                             &v1::StreamContainersResponse::mutable_containers,
                             limits)
                  .ok());
  EXPECT_GT(w.sent.size(), 1u);
  size_t total = 0;
  for (const auto& m : w.sent) {
    EXPECT_LE(m.ByteSizeLong(), limits.max_bytes);
    EXPECT_GT(m.containers_size(), 0);
    total += m.containers_size();
  }
  EXPECT_EQ(total, 50u);
}

TEST(ChunkedListTest, AnItemOverTheBudgetGoesAlone) {
  auto items = Containers(3, 4096);
  FakeWriter w;
  ChunkLimits limits;
  limits.max_bytes = 1024;
  ASSERT_TRUE(StreamInChunks(&items, &w,
                             &v1::StreamContainersResponse::mutable_containers,
                             limits)
                  .ok());
  ASSERT_EQ(w.sent.size(), 3u);
  for (const auto& m : w.sent) EXPECT_EQ(m.containers_size(), 1);
}

TEST(ChunkedListTest, EmptyListSendsNothing) {
  google::protobuf::RepeatedPtrField<v1::Container> items;
  FakeWriter w;
  ASSERT_TRUE(StreamInChunks(&items, &w,
                             &v1::StreamContainersResponse::mutable_containers)
                  .ok());
  EXPECT_TRUE(w.sent.empty());
}

TEST(ChunkedListTest, GoneClientIsCancelled) {
  auto items = Containers(10);
  FakeWriter w;
  w.fail_after = 1;
  ChunkLimits limits;
  limits.max_items = 3;
  grpc::Status s = StreamInChunks(
      &items, &w, &v1::StreamContainersResponse::mutable_containers, limits);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(w.sent.size(), 1u);
}

}  // namespace
}  // namespace cradle
