// The tasks service's bookkeeping through a real gRPC server: reservations
// that outlive a failed create, what recovery keeps, and how a task whose
// shim does not answer differs from one whose shim is gone. No shim is
// launched: the tests stand in for one with a bare unix socket.
#include "containerd_api/tasks_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "containerd_api/api_deps.h"
#include "containerd_api/containers_service.h"
#include "containerd_api/proto/services/containers/v1/containers.grpc.pb.h"
#include "containerd_api/proto/services/tasks/v1/tasks.grpc.pb.h"
#include "containerd_api/task_paths.h"
#include "metadata/leveldb_store.h"
#include "nlohmann/json.hpp"

namespace cradle::containerd_api {
namespace {

namespace containers = ::containerd::services::containers::v1;
namespace tasks = ::containerd::services::tasks::v1;
namespace types = ::containerd::v1::types;
using Code = grpc::StatusCode;
namespace fs = std::filesystem;

class TasksServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Unix socket paths must be short; TEST_TMPDIR may not be.
    char tmpl[] = "/tmp/tasksvc-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto md = OpenMetadataStore(dir_ + "/metadata");
    ASSERT_TRUE(md.ok()) << md.status();
    metadata_ = *std::move(md);
    deps_.root = dir_ + "/root";
    deps_.state = dir_ + "/state";
    deps_.metadata = metadata_.get();
    deps_.shim_binary = "/nonexistent/cradle-shim";  // never launched here
    deps_.runtimes["io.containerd.runc.v2"] = "/bin/true";
    containers_service_ = NewContainersService(deps_);
  }

  void StartServer() {
    tasks_service_ = NewTasksService(deps_);
    if (auto* r = dynamic_cast<Recoverable*>(tasks_service_.get()))
      r->Recover();
    grpc::ServerBuilder builder;
    std::string address = "unix://" + dir_ + "/api.sock";
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(containers_service_.get());
    builder.RegisterService(tasks_service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel =
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    containers_ = containers::Containers::NewStub(channel);
    tasks_ = tasks::Tasks::NewStub(channel);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    tasks_service_.reset();
    if (listener_ >= 0) close(listener_);
    fs::remove_all(dir_);
  }

  std::unique_ptr<grpc::ClientContext> In(const std::string& ns) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("containerd-namespace", ns);
    return ctx;
  }

  grpc::Status CreateContainer(const std::string& id,
                               const std::string& spec_json) {
    containers::CreateContainerRequest request;
    containers::Container* c = request.mutable_container();
    c->set_id(id);
    c->mutable_runtime()->set_name("io.containerd.runc.v2");
    c->mutable_spec()->set_type_url(
        "types.containerd.io/opencontainers/runtime-spec/1/Spec");
    c->mutable_spec()->set_value(spec_json);
    containers::CreateContainerResponse response;
    return containers_->Create(In("default").get(), request, &response);
  }

  grpc::Status CreateTask(const std::string& id) {
    tasks::CreateTaskRequest request;
    request.set_container_id(id);
    auto* m = request.add_rootfs();
    m->set_type("bind");
    m->set_source("/nonexistent");
    tasks::CreateTaskResponse response;
    return tasks_->Create(In("default").get(), request, &response);
  }

  // A task record as Create writes it, for recovery to find.
  void WriteRecord(const std::string& id, const std::string& socket) {
    std::string bundle = TaskBundlePath(deps_.state, "default", id);
    fs::create_directories(bundle + "/rootfs");
    nlohmann::json record = {{"namespace", "default"},
                             {"id", id},
                             {"bundle", bundle},
                             {"socket", socket},
                             {"runtime", "io.containerd.runc.v2"},
                             {"runtimeBinary", "/bin/true"},
                             {"runcRoot", dir_ + "/runc"}};
    std::ofstream(TaskRecordPath(deps_.state, "default", id)) << record.dump();
  }

  // A "shim" that accepts connections (the kernel does, by the backlog)
  // but never answers: alive, not answering.
  std::string ListenWithoutAnswering() {
    std::string path = dir_ + "/shim.sock";
    listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    EXPECT_EQ(
        bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
        0);
    EXPECT_EQ(listen(listener_, 64), 0);
    return path;
  }

  types::Process Get(const std::string& id, grpc::Status* status) {
    tasks::GetRequest request;
    request.set_container_id(id);
    tasks::GetResponse response;
    *status = tasks_->Get(In("default").get(), request, &response);
    return response.process();
  }

  std::string dir_;
  int listener_ = -1;
  std::unique_ptr<MetadataStore> metadata_;
  ContainerdApiDeps deps_;
  std::unique_ptr<grpc::Service> containers_service_;
  std::unique_ptr<grpc::Service> tasks_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<containers::Containers::Stub> containers_;
  std::unique_ptr<tasks::Tasks::Stub> tasks_;
};

TEST_F(TasksServiceTest, BadSpecTypesAreInvalidAndReserveNothing) {
  StartServer();
  ASSERT_TRUE(CreateContainer("badroot", R"({"root":"x"})").ok());
  ASSERT_TRUE(CreateContainer("badcg", R"({"linux":{"cgroupsPath":7}})").ok());
  for (const char* id : {"badroot", "badcg"}) {
    grpc::Status first = CreateTask(id);
    EXPECT_EQ(first.error_code(), Code::INVALID_ARGUMENT)
        << id << ": " << first.error_message();
    // The failed create freed the id: the same error again, not
    // AlreadyExists from a reservation left behind.
    grpc::Status second = CreateTask(id);
    EXPECT_EQ(second.error_code(), Code::INVALID_ARGUMENT)
        << id << ": " << second.error_message();
    EXPECT_FALSE(fs::exists(TaskBundlePath(deps_.state, "default", id)));
  }
}

TEST_F(TasksServiceTest, RecoveryRemovesOnlyBundlesWithNoRecord) {
  std::string norecord = TaskBundlePath(deps_.state, "default", "norecord");
  fs::create_directories(norecord + "/rootfs");
  // A record that cannot be read (here: a directory) is not an absent one.
  std::string unreadable = TaskBundlePath(deps_.state, "default", "unread");
  fs::create_directories(TaskRecordPath(deps_.state, "default", "unread"));
  StartServer();
  EXPECT_FALSE(fs::exists(norecord));
  EXPECT_TRUE(fs::exists(unreadable));
}

TEST_F(TasksServiceTest, SilentShimIsNotStoppedUntilProvenGone) {
  std::string socket = ListenWithoutAnswering();
  WriteRecord("busy", socket);
  StartServer();

  grpc::Status status;
  types::Process p = Get("busy", &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(p.status(), types::UNKNOWN);
  // Deleting now would force-delete a container under a live shim.
  tasks::DeleteTaskRequest del;
  del.set_container_id("busy");
  tasks::DeleteResponse deleted;
  status = tasks_->Delete(In("default").get(), del, &deleted);
  EXPECT_EQ(status.error_code(), Code::UNAVAILABLE) << status.error_message();
  EXPECT_TRUE(fs::exists(TaskRecordPath(deps_.state, "default", "busy")));

  // The shim dies (its socket file stays, refusing): now it is stopped,
  // and the task deletes.
  close(listener_);
  listener_ = -1;
  p = Get("busy", &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(p.status(), types::STOPPED);
  EXPECT_EQ(p.exit_status(), 255u);
  status = tasks_->Delete(In("default").get(), del, &deleted);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(fs::exists(TaskBundlePath(deps_.state, "default", "busy")));
  p = Get("busy", &status);
  EXPECT_EQ(status.error_code(), Code::NOT_FOUND);
}

TEST_F(TasksServiceTest, ContainerWithTaskRecordIsNotDeleted) {
  StartServer();
  ASSERT_TRUE(CreateContainer("withtask", R"({})").ok());
  WriteRecord("withtask", dir_ + "/none.sock");
  containers::DeleteContainerRequest request;
  request.set_id("withtask");
  google::protobuf::Empty empty;
  grpc::Status status =
      containers_->Delete(In("default").get(), request, &empty);
  EXPECT_EQ(status.error_code(), Code::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("delete the task first"),
            std::string::npos)
      << status.error_message();
  fs::remove(TaskRecordPath(deps_.state, "default", "withtask"));
  status = containers_->Delete(In("default").get(), request, &empty);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

}  // namespace
}  // namespace cradle::containerd_api
