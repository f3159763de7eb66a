// cri_bench: latency of the CRI operations a kubelet makes, against any CRI
// endpoint, so cradle and containerd are measured by the same client.
//
//   cri_bench --endpoint unix:///run/cradle/cradle.sock \
//             --image registry.k8s.io/e2e-test-images/busybox:1.29-2 -n 20
//
// Each operation runs n times in sequence; the table gives p50, p90 and max
// in milliseconds. Nothing here asserts a speed.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cri/api/runtime/v1/cri.h"

namespace cradle::bench {
namespace {

namespace v1 = runtime::v1;

struct Options {
  std::string endpoint = "unix:///run/cradle/cradle.sock";
  std::string image;
  int n = 20;
  std::string only;  // run just this operation
};

class Bench {
 public:
  explicit Bench(const Options& o) : options_(o) {
    auto channel =
        grpc::CreateChannel(o.endpoint, grpc::InsecureChannelCredentials());
    runtime_ = v1::RuntimeService::NewStub(channel);
    images_ = v1::ImageService::NewStub(channel);
  }

  // Times `op` n times; a failure stops the operation and is reported.
  void Measure(const std::string& name, const std::function<grpc::Status()>& op,
               const std::function<void()>& between = nullptr) {
    if (!options_.only.empty() && options_.only != name) return;
    std::vector<double> ms;
    for (int i = 0; i < options_.n; ++i) {
      if (between) between();
      absl::Time start = absl::Now();
      grpc::Status s = op();
      if (!s.ok()) {
        std::cerr << name << ": " << s.error_message() << "\n";
        break;
      }
      ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    }
    Report(name, ms);
  }

  static void Report(const std::string& name, std::vector<double> ms) {
    if (ms.empty()) {
      std::printf("%-28s %5s\n", name.c_str(), "fail");
      return;
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) {
      return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))];
    };
    std::printf("%-28s %5zu %9.1f %9.1f %9.1f\n", name.c_str(), ms.size(),
                pct(0.5), pct(0.9), ms.back());
  }

  v1::PodSandboxConfig PodConfig(int i) {
    v1::PodSandboxConfig c;
    c.mutable_metadata()->set_name(absl::StrCat("bench-pod-", i));
    c.mutable_metadata()->set_namespace_("bench");
    c.mutable_metadata()->set_uid(absl::StrCat("bench-uid-", i, "-", run_));
    c.set_log_directory("/tmp/cri-bench-logs");
    return c;
  }

  grpc::Status RunPod(int i, std::string* id) {
    grpc::ClientContext ctx;
    v1::RunPodSandboxRequest req;
    *req.mutable_config() = PodConfig(i);
    v1::RunPodSandboxResponse resp;
    grpc::Status s = runtime_->RunPodSandbox(&ctx, req, &resp);
    *id = resp.pod_sandbox_id();
    return s;
  }

  grpc::Status StopRemovePod(const std::string& id) {
    grpc::ClientContext c1, c2;
    v1::StopPodSandboxRequest stop;
    stop.set_pod_sandbox_id(id);
    v1::StopPodSandboxResponse r1;
    grpc::Status s = runtime_->StopPodSandbox(&c1, stop, &r1);
    if (!s.ok()) return s;
    v1::RemovePodSandboxRequest rm;
    rm.set_pod_sandbox_id(id);
    v1::RemovePodSandboxResponse r2;
    return runtime_->RemovePodSandbox(&c2, rm, &r2);
  }

  grpc::Status Pull() {
    grpc::ClientContext ctx;
    v1::PullImageRequest req;
    req.mutable_image()->set_image(options_.image);
    v1::PullImageResponse resp;
    return images_->PullImage(&ctx, req, &resp);
  }

  void RemoveImage() {
    grpc::ClientContext ctx;
    v1::RemoveImageRequest req;
    req.mutable_image()->set_image(options_.image);
    v1::RemoveImageResponse resp;
    (void)images_->RemoveImage(&ctx, req, &resp);
  }

  grpc::Status CreateStart(const std::string& pod, int i, std::string* id) {
    v1::CreateContainerRequest req;
    req.set_pod_sandbox_id(pod);
    *req.mutable_sandbox_config() = PodConfig(0);
    v1::ContainerConfig* c = req.mutable_config();
    c->mutable_metadata()->set_name(absl::StrCat("bench-ctr-", i));
    c->mutable_image()->set_image(options_.image);
    c->add_command("sleep");
    c->add_command("3600");
    c->set_log_path(absl::StrCat("bench-ctr-", i, ".log"));
    grpc::ClientContext c1;
    v1::CreateContainerResponse r1;
    grpc::Status s = runtime_->CreateContainer(&c1, req, &r1);
    if (!s.ok()) return s;
    *id = r1.container_id();
    grpc::ClientContext c2;
    v1::StartContainerRequest start;
    start.set_container_id(*id);
    v1::StartContainerResponse r2;
    return runtime_->StartContainer(&c2, start, &r2);
  }

  grpc::Status StopRemove(const std::string& id) {
    grpc::ClientContext c1, c2;
    v1::StopContainerRequest stop;
    stop.set_container_id(id);
    stop.set_timeout(0);
    v1::StopContainerResponse r1;
    grpc::Status s = runtime_->StopContainer(&c1, stop, &r1);
    if (!s.ok()) return s;
    v1::RemoveContainerRequest rm;
    rm.set_container_id(id);
    v1::RemoveContainerResponse r2;
    return runtime_->RemoveContainer(&c2, rm, &r2);
  }

  grpc::Status ExecTrue(const std::string& id) {
    grpc::ClientContext ctx;
    v1::ExecSyncRequest req;
    req.set_container_id(id);
    req.add_cmd("true");
    req.set_timeout(10);
    v1::ExecSyncResponse resp;
    return runtime_->ExecSync(&ctx, req, &resp);
  }

  int Run() {
    std::printf("%-28s %5s %9s %9s %9s\n", "operation (ms)", "n", "p50", "p90",
                "max");
    Measure(
        "PullImage (after remove)", [&] { return Pull(); },
        [&] { RemoveImage(); });
    if (!Pull().ok()) {
      std::cerr << "cannot pull " << options_.image << "\n";
      return 1;
    }
    int i = 0;
    std::string pod;
    Measure(
        "RunPodSandbox", [&] { return RunPod(++i, &pod); },
        [&] {
          if (!pod.empty()) (void)StopRemovePod(pod);
          pod.clear();
        });
    Measure(
        "Stop+RemovePodSandbox", [&] { return StopRemovePod(pod); },
        [&] { (void)RunPod(++i, &pod); });
    pod.clear();
    if (!RunPod(++i, &pod).ok()) return 1;
    std::string ctr;
    int k = 0;
    Measure(
        "Create+StartContainer", [&] { return CreateStart(pod, ++k, &ctr); },
        [&] {
          if (!ctr.empty()) (void)StopRemove(ctr);
          ctr.clear();
        });
    Measure("ExecSync true", [&] { return ExecTrue(ctr); });
    Measure(
        "Stop+RemoveContainer", [&] { return StopRemove(ctr); },
        [&] { (void)CreateStart(pod, ++k, &ctr); });
    (void)StopRemovePod(pod);
    return 0;
  }

 private:
  const Options options_;
  const std::string run_ = absl::StrCat(absl::ToUnixNanos(absl::Now()));
  std::unique_ptr<v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<v1::ImageService::Stub> images_;
};

}  // namespace
}  // namespace cradle::bench

int main(int argc, char** argv) {
  cradle::bench::Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--endpoint") {
      options.endpoint = value();
    } else if (arg == "--image") {
      options.image = value();
    } else if (arg == "-n") {
      if (!absl::SimpleAtoi(value(), &options.n) || options.n <= 0) {
        std::cerr << "-n needs a positive number\n";
        return 2;
      }
    } else if (arg == "--only") {
      options.only = value();
    } else {
      std::cerr << "usage: cri_bench --endpoint unix:///path --image REF "
                   "[-n N] [--only OPERATION]\n";
      return 2;
    }
  }
  if (options.image.empty()) {
    std::cerr << "--image is required\n";
    return 2;
  }
  return cradle::bench::Bench(options).Run();
}
