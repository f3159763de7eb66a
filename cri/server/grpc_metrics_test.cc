#include "cri/server/grpc_metrics.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cri/api/runtime/v1/cri.h"
#include "gtest/gtest.h"

namespace cradle {
namespace {

namespace v1 = runtime::v1;

constexpr char kVersion[] = "/runtime.v1.RuntimeService/Version";
constexpr char kStatus[] = "/runtime.v1.RuntimeService/ContainerStatus";
constexpr char kEvents[] = "/runtime.v1.RuntimeService/GetContainerEvents";

// Answers Version, refuses ContainerStatus, streams two events.
class FakeRuntime : public v1::RuntimeService::Service {
  grpc::Status Version(grpc::ServerContext*, const v1::VersionRequest*,
                       v1::VersionResponse* resp) override {
    resp->set_runtime_name("fake");
    return grpc::Status::OK;
  }
  grpc::Status ContainerStatus(grpc::ServerContext*,
                               const v1::ContainerStatusRequest*,
                               v1::ContainerStatusResponse*) override {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such container");
  }
  grpc::Status GetContainerEvents(
      grpc::ServerContext*, const v1::GetEventsRequest*,
      grpc::ServerWriter<v1::ContainerEventResponse>* writer) override {
    v1::ContainerEventResponse event;
    writer->Write(event);
    writer->Write(event);
    return grpc::Status::OK;
  }
};

class GrpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/cradle-grpc-metrics-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    std::string address = absl::StrCat("unix:", dir_, "/s");
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(
        std::make_unique<GrpcMetricsInterceptorFactory>(&registry_));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::RuntimeService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    unlink((dir_ + "/s").c_str());
    rmdir(dir_.c_str());
  }

  double Handled(const char* method, const char* code) {
    return registry_
        .AddCounter("cradle_grpc_server_handled_total", "",
                    {"grpc_method", "grpc_code"})
        ->Value({method, code});
  }
  uint64_t Timed(const char* method, const char* code) {
    return registry_
        .AddHistogram("cradle_grpc_server_handling_seconds", "",
                      {"grpc_method", "grpc_code"}, metrics::LatencyBuckets())
        ->Count({method, code});
  }
  // The server side finishes its bookkeeping just after the client has its
  // answer; wait for it (bounded).
  void WaitHandled(const char* method, const char* code, double want) {
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (Handled(method, code) < want && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  std::string dir_;
  metrics::Registry registry_;
  FakeRuntime service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::RuntimeService::Stub> stub_;
};

TEST_F(GrpcMetricsTest, CountsAndTimesByMethodAndCode) {
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    v1::VersionResponse resp;
    ASSERT_TRUE(stub_->Version(&ctx, {}, &resp).ok());
  }
  grpc::ClientContext ctx;
  v1::ContainerStatusResponse resp;
  ASSERT_EQ(stub_->ContainerStatus(&ctx, {}, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);

  WaitHandled(kVersion, "OK", 2);
  WaitHandled(kStatus, "NotFound", 1);
  EXPECT_EQ(Handled(kVersion, "OK"), 2);
  EXPECT_EQ(Handled(kStatus, "NotFound"), 1);
  EXPECT_EQ(Handled(kStatus, "OK"), 0);
  EXPECT_EQ(Timed(kVersion, "OK"), 2u);
  EXPECT_EQ(Timed(kStatus, "NotFound"), 1u);
  EXPECT_EQ(
      registry_
          .AddCounter("cradle_grpc_server_started_total", "", {"grpc_method"})
          ->Value({kVersion}),
      2);
}

TEST_F(GrpcMetricsTest, CountsServerStreams) {
  grpc::ClientContext ctx;
  auto reader = stub_->GetContainerEvents(&ctx, {});
  v1::ContainerEventResponse event;
  int n = 0;
  while (reader->Read(&event)) ++n;
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(n, 2);
  WaitHandled(kEvents, "OK", 1);
  EXPECT_EQ(Handled(kEvents, "OK"), 1);
  EXPECT_EQ(Timed(kEvents, "OK"), 1u);
}

TEST(GrpcCodeName, NamesAsOtherLanguagesDo) {
  EXPECT_STREQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_STREQ(GrpcCodeName(grpc::StatusCode::NOT_FOUND), "NotFound");
  EXPECT_STREQ(GrpcCodeName(grpc::StatusCode::CANCELLED), "Canceled");
  EXPECT_STREQ(GrpcCodeName(grpc::StatusCode::FAILED_PRECONDITION),
               "FailedPrecondition");
  EXPECT_STREQ(GrpcCodeName(static_cast<grpc::StatusCode>(99)), "Unknown");
}

}  // namespace
}  // namespace cradle
