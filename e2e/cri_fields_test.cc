// End to end: the newer CRI fields (stop_signal, ContainerStatus.user,
// supplemental_groups_policy), the Stream* list RPCs and
// CheckpointContainer against a real cradled and runc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "e2e/harness/pod_test.h"
#include "process/process.h"

namespace cradle::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

v1::Signal Signal(const char* name) {
  v1::Signal s = v1::RUNTIME_DEFAULT;
  EXPECT_TRUE(v1::Signal_Parse(name, &s)) << name;
  return s;
}

class CriFieldsTest : public PodTest {
 protected:
  CriFieldsTest() : PodTest(97) {}

  // Polls (bounded) until `cmd` in the container succeeds.
  bool WaitExecOk(const std::string& id, std::vector<std::string> cmd) {
    for (int i = 0; i < 200; ++i) {
      v1::ExecSyncResponse r;
      if (Exec(id, cmd, &r).ok() && r.exit_code() == 0) return true;
      usleep(50 * 1000);
    }
    return false;
  }
  std::string ExecOut(const std::string& id, std::vector<std::string> cmd) {
    v1::ExecSyncResponse r;
    grpc::Status s = Exec(id, cmd, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(r.exit_code(), 0) << r.stderr();
    return r.stdout();
  }
  std::vector<std::string> Words(const std::string& text) {
    return absl::StrSplit(text, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  }
};

TEST_F(CriFieldsTest, StopSignalFromTheConfigIsSentAndReported) {
  std::string pod = RunPod("stopsig");
  // PID 1 ignores signals it has no handler for: only a delivered SIGUSR1
  // runs the trap, whose exit code 42 then shows in the status.
  v1::ContainerConfig config =
      Config("usr1", {"sh", "-c",
                      "trap 'echo got-usr1; exit 42' USR1; touch /tmp/ready; "
                      "while true; do sleep 0.1; done"});
  config.set_stop_signal(Signal("SIGUSR1"));
  std::string id = RunContainer(pod, config);
  ASSERT_TRUE(WaitExecOk(id, {"test", "-e", "/tmp/ready"}));

  v1::ContainerStatus st;
  ASSERT_TRUE(Status(id, &st).ok());
  EXPECT_EQ(st.stop_signal(), Signal("SIGUSR1"));

  ASSERT_TRUE(StopC(id, 30).ok());
  st = WaitExited(id);
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(st.exit_code(), 42) << "SIGUSR1 reached the trap";
  EXPECT_EQ(st.stop_signal(), Signal("SIGUSR1"));
  EXPECT_THAT(ReadFile(logs_ + "/stopsig/usr1.log"), HasSubstr("got-usr1"));

  // Neither the config nor busybox sets one: the runtime's default.
  std::string plain = RunContainer(pod, Config("plain", {"sleep", "300"}));
  ASSERT_TRUE(Status(plain, &st).ok());
  EXPECT_EQ(st.stop_signal(), v1::RUNTIME_DEFAULT);
}

TEST_F(CriFieldsTest, ContainerStatusReportsTheIdsTheProcessHas) {
  std::string pod = RunPod("user");
  v1::ContainerConfig config = Config("ids", {"sleep", "300"});
  auto* sc = config.mutable_linux()->mutable_security_context();
  sc->mutable_run_as_user()->set_value(1000);
  sc->add_supplemental_groups(5);
  std::string id;
  ASSERT_TRUE(Create(pod, config, &id).ok());

  v1::ContainerStatus st;
  ASSERT_TRUE(Status(id, &st).ok());
  ASSERT_TRUE(st.has_user()) << "created: the spec's ids";
  EXPECT_EQ(st.user().linux().uid(), 1000);
  EXPECT_EQ(st.user().linux().gid(), 0);
  EXPECT_THAT(st.user().linux().supplemental_groups(), ElementsAre(5));

  ASSERT_TRUE(Start(id).ok());
  ASSERT_TRUE(Status(id, &st).ok());
  ASSERT_EQ(st.state(), v1::CONTAINER_RUNNING);
  EXPECT_EQ(st.user().linux().uid(), 1000);
  EXPECT_EQ(st.user().linux().gid(), 0);
  EXPECT_THAT(st.user().linux().supplemental_groups(), ElementsAre(5));
  // The same as the process itself says.
  EXPECT_EQ(ExecOut(id, {"id", "-u"}), "1000\n");
  EXPECT_EQ(ExecOut(id, {"id", "-G"}), "0 5\n");

  ASSERT_TRUE(StopC(id, 0).ok());
  ASSERT_TRUE(Status(id, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(st.user().linux().uid(), 1000) << "exited: the recorded ids";
  EXPECT_THAT(st.user().linux().supplemental_groups(), ElementsAre(5));
}

TEST_F(CriFieldsTest, StrictGroupsPolicyIgnoresTheImagesGroupFile) {
  // busybox with root listed in a group of its /etc/group ("wheel", 10).
  SpawnOptions build;
  build.argv = {
      "bash", "-c",
      absl::StrCat(
          "set -e; d=$(mktemp -d); trap 'rm -rf $d' EXIT; "
          "skopeo copy --quiet --src-tls-verify=false docker://",
          images().Ref("busybox:latest"),
          " oci:$d/layout:b; umoci unpack --image $d/layout:b $d/b; "
          "echo 'wheel:x:10:root' >> $d/b/rootfs/etc/group; "
          "umoci repack --image $d/layout:b $d/b; "
          "skopeo copy --quiet --dest-tls-verify=false oci:$d/layout:b "
          "docker://",
          images().Ref("busybox:groups"))};
  absl::StatusOr<RunResult> built = RunAndCapture(build, "", absl::Minutes(2));
  ASSERT_TRUE(built.ok()) << built.status();
  ASSERT_TRUE(built->status.ok()) << built->out << built->err;
  {
    grpc::ClientContext ctx;
    v1::PullImageRequest req;
    req.mutable_image()->set_image(images().Ref("busybox:groups"));
    v1::PullImageResponse resp;
    grpc::Status s = daemon().images().PullImage(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  std::string pod = RunPod("groups");
  auto run = [&](const std::string& name, v1::SupplementalGroupsPolicy p) {
    v1::ContainerConfig config = Config(name, {"sleep", "300"});
    config.mutable_image()->set_image(images().Ref("busybox:groups"));
    auto* sc = config.mutable_linux()->mutable_security_context();
    sc->mutable_run_as_user()->set_value(0);
    sc->add_supplemental_groups(5);
    sc->set_supplemental_groups_policy(p);
    return RunContainer(pod, config);
  };
  std::string merge = run("merge", v1::SupplementalGroupsPolicy::Merge);
  std::string strict = run("strict", v1::SupplementalGroupsPolicy::Strict);
  EXPECT_THAT(Words(ExecOut(merge, {"id", "-G"})),
              UnorderedElementsAreArray({"0", "5", "10"}));
  EXPECT_THAT(Words(ExecOut(strict, {"id", "-G"})),
              UnorderedElementsAreArray({"0", "5"}));
  v1::ContainerStatus st;
  ASSERT_TRUE(Status(strict, &st).ok());
  EXPECT_THAT(st.user().linux().supplemental_groups(), ElementsAre(5));
  ASSERT_TRUE(Status(merge, &st).ok());
  EXPECT_THAT(st.user().linux().supplemental_groups(), ElementsAre(5, 10));
}

// Reads a whole server stream; the items of each message go to `items`.
template <typename Response, typename Item, typename Call>
int ReadStream(
    Call call,
    const google::protobuf::RepeatedPtrField<Item>& (Response::*field)() const,
    std::vector<Item>* items) {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<Response>> reader = call(&ctx);
  Response msg;
  int messages = 0;
  while (reader->Read(&msg)) {
    ++messages;
    EXPECT_GT((msg.*field)().size(), 0) << "no empty chunks";
    EXPECT_LE(msg.ByteSizeLong(), size_t{1} << 20);
    for (const Item& i : (msg.*field)()) items->push_back(i);
  }
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  return messages;
}

template <typename T>
std::vector<std::string> SortedIds(const std::vector<T>& items) {
  std::vector<std::string> ids;
  for (const T& i : items) ids.push_back(i.id());
  std::sort(ids.begin(), ids.end());
  return ids;
}
template <typename T>
std::vector<std::string> SortedAttributeIds(const std::vector<T>& items) {
  std::vector<std::string> ids;
  for (const T& i : items) ids.push_back(i.attributes().id());
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST_F(CriFieldsTest, StreamRpcsReturnWhatListReturnsInChunks) {
  // Five pods and containers of ~300 KiB of annotations each: over the
  // 1 MiB chunk budget, so every list takes several messages.
  const std::string big(300 * 1024, 'a');
  std::vector<std::string> pods, containers;
  for (int i = 0; i < 5; ++i) {
    std::string name = absl::StrCat("stream", i);
    grpc::ClientContext ctx;
    v1::RunPodSandboxRequest req;
    *req.mutable_config() = PodConfig(name);
    (*req.mutable_config()->mutable_annotations())["big"] = big;
    (*req.mutable_config()->mutable_labels())["suite"] = "stream";
    v1::RunPodSandboxResponse resp;
    grpc::Status s = daemon().runtime().RunPodSandbox(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    pods.push_back(resp.pod_sandbox_id());
    v1::ContainerConfig c = Config("c", {"sleep", "300"});
    (*c.mutable_annotations())["big"] = big;
    (*c.mutable_labels())["suite"] = "stream";
    containers.push_back(RunContainer(pods.back(), c));
  }
  std::sort(pods.begin(), pods.end());
  std::sort(containers.begin(), containers.end());
  v1::RuntimeService::Stub& rt = daemon().runtime();

  // Pods: the same as ListPodSandbox, with and without a filter.
  {
    v1::StreamPodSandboxesRequest req;
    (*req.mutable_filter()->mutable_label_selector())["suite"] = "stream";
    std::vector<v1::PodSandbox> got;
    int messages = ReadStream<v1::StreamPodSandboxesResponse>(
        [&](grpc::ClientContext* ctx) {
          return rt.StreamPodSandboxes(ctx, req);
        },
        &v1::StreamPodSandboxesResponse::pod_sandboxes, &got);
    EXPECT_GE(messages, 2);
    EXPECT_EQ(SortedIds(got), pods);
    for (const v1::PodSandbox& p : got)
      EXPECT_EQ(p.annotations().at("big"), big);

    req.mutable_filter()->set_id(pods[2]);
    got.clear();
    EXPECT_EQ(ReadStream<v1::StreamPodSandboxesResponse>(
                  [&](grpc::ClientContext* ctx) {
                    return rt.StreamPodSandboxes(ctx, req);
                  },
                  &v1::StreamPodSandboxesResponse::pod_sandboxes, &got),
              1);
    EXPECT_THAT(SortedIds(got), ElementsAre(pods[2]));
  }
  // Containers.
  {
    v1::StreamContainersRequest req;
    (*req.mutable_filter()->mutable_label_selector())["suite"] = "stream";
    std::vector<v1::Container> got;
    EXPECT_GE(ReadStream<v1::StreamContainersResponse>(
                  [&](grpc::ClientContext* ctx) {
                    return rt.StreamContainers(ctx, req);
                  },
                  &v1::StreamContainersResponse::containers, &got),
              2);
    EXPECT_EQ(SortedIds(got), containers);
    grpc::ClientContext ctx;
    v1::ListContainersRequest list;
    *list.mutable_filter() = req.filter();
    v1::ListContainersResponse all;
    ASSERT_TRUE(rt.ListContainers(&ctx, list, &all).ok());
    std::vector<v1::Container> listed(all.containers().begin(),
                                      all.containers().end());
    EXPECT_EQ(SortedIds(listed), SortedIds(got));

    req.mutable_filter()->set_pod_sandbox_id(pods[0]);
    got.clear();
    ReadStream<v1::StreamContainersResponse>(
        [&](grpc::ClientContext* ctx) { return rt.StreamContainers(ctx, req); },
        &v1::StreamContainersResponse::containers, &got);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].pod_sandbox_id(), pods[0]);
  }
  // Container and pod stats.
  {
    v1::StreamContainerStatsRequest req;
    (*req.mutable_filter()->mutable_label_selector())["suite"] = "stream";
    std::vector<v1::ContainerStats> got;
    EXPECT_GE(ReadStream<v1::StreamContainerStatsResponse>(
                  [&](grpc::ClientContext* ctx) {
                    return rt.StreamContainerStats(ctx, req);
                  },
                  &v1::StreamContainerStatsResponse::container_stats, &got),
              2);
    EXPECT_EQ(SortedAttributeIds(got), containers);
  }
  {
    v1::StreamPodSandboxStatsRequest req;
    (*req.mutable_filter()->mutable_label_selector())["suite"] = "stream";
    std::vector<v1::PodSandboxStats> got;
    EXPECT_GE(ReadStream<v1::StreamPodSandboxStatsResponse>(
                  [&](grpc::ClientContext* ctx) {
                    return rt.StreamPodSandboxStats(ctx, req);
                  },
                  &v1::StreamPodSandboxStatsResponse::pod_sandbox_stats, &got),
              2);
    EXPECT_EQ(SortedAttributeIds(got), pods);
  }
  // Images: the same as ListImages.
  {
    grpc::ClientContext ctx;
    v1::ListImagesResponse all;
    ASSERT_TRUE(
        daemon().images().ListImages(&ctx, v1::ListImagesRequest(), &all).ok());
    std::vector<v1::Image> listed(all.images().begin(), all.images().end());
    std::vector<v1::Image> got;
    EXPECT_EQ(ReadStream<v1::StreamImagesResponse>(
                  [&](grpc::ClientContext* ctx) {
                    return daemon().images().StreamImages(
                        ctx, v1::StreamImagesRequest());
                  },
                  &v1::StreamImagesResponse::images, &got),
              1);
    EXPECT_EQ(SortedIds(got), SortedIds(listed));
    EXPECT_THAT(got, Not(IsEmpty()));
  }
}

TEST_F(CriFieldsTest, CheckpointFailsCleanlyWithoutWorkingCriu) {
  std::string pod = RunPod("ckpt");
  std::string id = RunContainer(pod, Config("app", {"sleep", "300"}));
  std::string dir = logs_ + "/checkpoints";
  fs::create_directories(dir);
  auto checkpoint = [&](const std::string& cid, const std::string& location) {
    grpc::ClientContext ctx;
    v1::CheckpointContainerRequest req;
    req.set_container_id(cid);
    req.set_location(location);
    v1::CheckpointContainerResponse resp;
    return daemon().runtime().CheckpointContainer(&ctx, req, &resp);
  };
  EXPECT_EQ(checkpoint(id, "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(checkpoint(id, "relative/ckpt.tar").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(checkpoint("no-such-container", dir + "/x.tar").error_code(),
            grpc::StatusCode::NOT_FOUND);

  // Debian 12's CRIU cannot dump on this kernel (or is absent): the
  // runtime's and CRIU's reason comes back, and nothing else changes.
  std::string location = dir + "/ckpt.tar";
  grpc::Status s = checkpoint(id, location);
  if (s.ok()) {
    EXPECT_TRUE(fs::exists(location)) << "a working CRIU wrote the archive";
  } else {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("checkpoint"));
    EXPECT_TRUE(fs::is_empty(dir)) << "no partial archive";
    RecordProperty("checkpoint_error", s.error_message());
  }
  v1::ContainerStatus st;
  ASSERT_TRUE(Status(id, &st).ok());
  EXPECT_EQ(st.state(), v1::CONTAINER_RUNNING);
  EXPECT_EQ(ExecOut(id, {"echo", "alive"}), "alive\n");

  ASSERT_TRUE(StopC(id, 0).ok());
  EXPECT_EQ(checkpoint(id, dir + "/y.tar").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION)
      << "not running";
}

}  // namespace
}  // namespace cradle::e2e
