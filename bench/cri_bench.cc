// cri_bench: latency of the CRI operations a kubelet makes, against any CRI
// endpoint, so cradle and containerd are measured by the same client.
//
//   cri_bench --endpoint unix:///run/cradle/cradle.sock
//             --image registry.k8s.io/e2e-test-images/busybox:1.29-2 -n 20
//
// Each operation runs n times in sequence; the table gives p50, p90 and max
// in milliseconds. With --lifecycle N, N pods each live a whole life (runp,
// create, start, stop, rm, rmp), --concurrency at a time; the table gives
// each step's p50/p99, the pods per second, and the daemon's and shims'
// resident memory. With --shim-memory N, one pod gets N containers and the
// pod's shim (--shim-name) is measured with 1 and with N of them: VmRSS,
// RssAnon, RssFile and Pss. Nothing here asserts a speed.
#include <dirent.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/cri_client.h"
#include "cri/api/runtime/v1/cri.h"

namespace cradle::bench {
namespace {

struct Options {
  std::string endpoint = "unix:///run/cradle/cradle.sock";
  std::string image;
  int n = 20;
  std::string only;  // run just this operation
  std::string runtime_handler;  // RuntimeClass handler of every pod ("")
  // Lifecycle mode: this many pods, each with one container, through
  // runp+create+start then stop+rm+rmp, `concurrency` at a time.
  int lifecycle = 0;
  int concurrency = 1;
  int daemon_pid = 0;     // its VmRSS is reported
  std::string shim_name;  // e.g. cradle-shim: their VmRSS is reported
  int shim_memory = 0;    // containers in one pod for the shim's memory
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
    std::printf("%-28s %5zu %9.1f %9.1f %9.1f\n", name.c_str(), ms.size(),
                Percentile(ms, 0.5), Percentile(ms, 0.9), ms.back());
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
    req.set_runtime_handler(options_.runtime_handler);
    v1::RunPodSandboxResponse resp;
    grpc::Status s = runtime_->RunPodSandbox(&ctx, req, &resp);
    *id = resp.pod_sandbox_id();
    return s;
  }

  grpc::Status StopPod(const std::string& id) {
    grpc::ClientContext ctx;
    v1::StopPodSandboxRequest stop;
    stop.set_pod_sandbox_id(id);
    v1::StopPodSandboxResponse resp;
    return runtime_->StopPodSandbox(&ctx, stop, &resp);
  }

  grpc::Status RemovePod(const std::string& id) {
    grpc::ClientContext ctx;
    v1::RemovePodSandboxRequest rm;
    rm.set_pod_sandbox_id(id);
    v1::RemovePodSandboxResponse resp;
    return runtime_->RemovePodSandbox(&ctx, rm, &resp);
  }

  grpc::Status StopRemovePod(const std::string& id) {
    grpc::Status s = StopPod(id);
    return s.ok() ? RemovePod(id) : s;
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

  grpc::Status Create(const std::string& pod, int i, std::string* id) {
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
    *id = r1.container_id();
    return s;
  }

  grpc::Status Start(const std::string& id) {
    grpc::ClientContext ctx;
    v1::StartContainerRequest start;
    start.set_container_id(id);
    v1::StartContainerResponse resp;
    return runtime_->StartContainer(&ctx, start, &resp);
  }

  grpc::Status CreateStart(const std::string& pod, int i, std::string* id) {
    grpc::Status s = Create(pod, i, id);
    return s.ok() ? Start(*id) : s;
  }

  grpc::Status Stop(const std::string& id) {
    grpc::ClientContext ctx;
    v1::StopContainerRequest stop;
    stop.set_container_id(id);
    stop.set_timeout(0);
    v1::StopContainerResponse resp;
    return runtime_->StopContainer(&ctx, stop, &resp);
  }

  grpc::Status Remove(const std::string& id) {
    grpc::ClientContext ctx;
    v1::RemoveContainerRequest rm;
    rm.set_container_id(id);
    v1::RemoveContainerResponse resp;
    return runtime_->RemoveContainer(&ctx, rm, &resp);
  }

  grpc::Status StopRemove(const std::string& id) {
    grpc::Status s = Stop(id);
    return s.ok() ? Remove(id) : s;
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

  // One pod's life, step by step; false when a step failed.
  bool PodLife(int i, std::map<std::string, std::vector<double>>* ms,
               absl::Mutex* mu, const std::function<void()>& at_peak) {
    auto timed = [&](const char* step, const std::function<grpc::Status()>& f) {
      absl::Time start = absl::Now();
      grpc::Status s = f();
      double took = absl::ToDoubleMilliseconds(absl::Now() - start);
      if (!s.ok()) {
        std::cerr << step << ": " << s.error_message() << "\n";
        return false;
      }
      absl::MutexLock lock(mu);
      (*ms)[step].push_back(took);
      return true;
    };
    std::string pod, ctr;
    bool ok =
        timed("1 RunPodSandbox", [&] { return RunPod(i, &pod); }) &&
        timed("2 CreateContainer", [&] { return Create(pod, i, &ctr); }) &&
        timed("3 StartContainer", [&] { return Start(ctr); });
    if (ok && at_peak) at_peak();
    ok = ok && timed("4 StopContainer", [&] { return Stop(ctr); }) &&
         timed("5 RemoveContainer", [&] { return Remove(ctr); });
    ok = ok && timed("6 StopPodSandbox", [&] { return StopPod(pod); }) &&
         timed("7 RemovePodSandbox", [&] { return RemovePod(pod); });
    return ok;
  }

  int RunLifecycle() {
    if (!Pull().ok()) {
      std::cerr << "cannot pull " << options_.image << "\n";
      return 1;
    }
    std::map<std::string, std::vector<double>> ms;
    absl::Mutex mu;
    std::atomic<int> next{0}, failed{0};
    uint64_t peak_daemon = 0, peak_shims = 0;
    int peak_count = 0;
    auto sample = [&] {
      uint64_t daemon =
          options_.daemon_pid > 0 ? RssKb(options_.daemon_pid) : 0;
      int count = 0;
      uint64_t shims = ShimsRssKb(&count);
      absl::MutexLock lock(&mu);
      peak_daemon = std::max(peak_daemon, daemon);
      if (shims > peak_shims) {
        peak_shims = shims;
        peak_count = count;
      }
    };
    absl::Time start = absl::Now();
    std::vector<std::thread> workers;
    for (int w = 0; w < options_.concurrency; ++w) {
      workers.emplace_back([&] {
        for (int i; (i = next++) < options_.lifecycle;) {
          if (!PodLife(i, &ms, &mu, sample)) ++failed;
        }
      });
    }
    for (std::thread& t : workers) t.join();
    double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    std::printf("%d pods, concurrency %d: %.1f s, %.2f pods/s, %d failed\n",
                options_.lifecycle, options_.concurrency, seconds,
                (options_.lifecycle - failed) / seconds, failed.load());
    std::printf("%-22s %5s %9s %9s %9s\n", "step (ms)", "n", "p50", "p99",
                "max");
    for (auto& [step, v] : ms) {
      std::sort(v.begin(), v.end());
      std::printf("%-22s %5zu %9.1f %9.1f %9.1f\n", step.c_str(), v.size(),
                  Percentile(v, 0.5), Percentile(v, 0.99), v.back());
    }
    if (options_.daemon_pid > 0) {
      std::printf("daemon VmRSS peak: %.1f MiB\n", peak_daemon / 1024.0);
    }
    if (!options_.shim_name.empty() && peak_count > 0) {
      std::printf(
          "shims (%s) VmRSS at peak: %d running, %.1f MiB total, "
          "%.1f MiB each\n",
          options_.shim_name.c_str(), peak_count, peak_shims / 1024.0,
          peak_shims / 1024.0 / peak_count);
    }
    return failed == 0 ? 0 : 1;
  }

  static uint64_t RssKb(int pid) { return ProcKb(pid, "status", "VmRSS"); }

  uint64_t ShimsRssKb(int* count) {
    std::vector<int> pids =
        options_.shim_name.empty() ? std::vector<int>() : ShimPids();
    *count = 0;
    uint64_t total = 0;
    for (int pid : pids) {
      uint64_t kb = RssKb(pid);
      if (kb == 0) continue;  // a zombie: exited, not yet reaped
      total += kb;
      ++*count;
    }
    return total;
  }

  // The pids of processes named like --shim-name.
  std::vector<int> ShimPids() {
    std::vector<int> pids;
    DIR* proc = opendir("/proc");
    while (dirent* e = readdir(proc)) {
      int pid = 0;
      if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
      std::ifstream comm(absl::StrCat("/proc/", pid, "/comm"));
      std::string name;
      std::getline(comm, name);
      if (!name.empty() && options_.shim_name.compare(0, 15, name) == 0) {
        pids.push_back(pid);
      }
    }
    closedir(proc);
    return pids;
  }

  void PrintShimMemory(int containers, const std::vector<int>& before) {
    for (int pid : ShimPids()) {
      if (std::find(before.begin(), before.end(), pid) != before.end()) {
        continue;  // not this pod's
      }
      std::printf(
          "%3d container(s): shim %d VmRSS %.2f MiB, RssAnon %.2f, "
          "RssFile %.2f, Pss %.2f\n",
          containers, pid, ProcKb(pid, "status", "VmRSS") / 1024.0,
          ProcKb(pid, "status", "RssAnon") / 1024.0,
          ProcKb(pid, "status", "RssFile") / 1024.0,
          ProcKb(pid, "smaps_rollup", "Pss") / 1024.0);
    }
  }

  int RunShimMemory() {
    if (options_.shim_name.empty()) {
      std::cerr << "--shim-memory needs --shim-name\n";
      return 2;
    }
    if (!Pull().ok()) {
      std::cerr << "cannot pull " << options_.image << "\n";
      return 1;
    }
    std::vector<int> before = ShimPids();
    std::string pod;
    if (grpc::Status s = RunPod(1, &pod); !s.ok()) {
      std::cerr << "RunPodSandbox: " << s.error_message() << "\n";
      return 1;
    }
    std::vector<std::string> containers;
    int status = 0;
    for (int i = 1; i <= options_.shim_memory; ++i) {
      std::string id;
      if (grpc::Status s = CreateStart(pod, i, &id); !s.ok()) {
        std::cerr << "container " << i << ": " << s.error_message() << "\n";
        status = 1;
        break;
      }
      containers.push_back(id);
      if (i == 1 || i == options_.shim_memory) {
        absl::SleepFor(absl::Seconds(1));  // let the start settle
        PrintShimMemory(i, before);
      }
    }
    for (const std::string& id : containers) (void)StopRemove(id);
    (void)StopRemovePod(pod);
    return status;
  }

  int Run() {
    if (options_.shim_memory > 0) return RunShimMemory();
    if (options_.lifecycle > 0) return RunLifecycle();
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
    if (!pod.empty()) (void)StopRemovePod(pod);  // the last one measured
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
    } else if (arg == "--runtime-handler") {
      options.runtime_handler = value();
    } else if (arg == "--lifecycle") {
      (void)absl::SimpleAtoi(value(), &options.lifecycle);
    } else if (arg == "--concurrency") {
      (void)absl::SimpleAtoi(value(), &options.concurrency);
      options.concurrency = std::max(1, options.concurrency);
    } else if (arg == "--daemon-pid") {
      (void)absl::SimpleAtoi(value(), &options.daemon_pid);
    } else if (arg == "--shim-name") {
      options.shim_name = value();
    } else if (arg == "--shim-memory") {
      (void)absl::SimpleAtoi(value(), &options.shim_memory);
    } else {
      std::cerr << "usage: cri_bench --endpoint unix:///path --image REF "
                   "[-n N] [--only OPERATION] [--runtime-handler NAME]\n"
                   "       [--lifecycle PODS [--concurrency C] "
                   "[--daemon-pid PID] [--shim-name NAME]]\n"
                   "       [--shim-memory CONTAINERS --shim-name NAME]\n";
      return 2;
    }
  }
  if (options.image.empty()) {
    std::cerr << "--image is required\n";
    return 2;
  }
  return cradle::bench::Bench(options).Run();
}
