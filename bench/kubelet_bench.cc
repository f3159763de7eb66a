// kubelet_bench: pod start and stop as a kubelet drives them, against two or
// more CRI endpoints in one run, so the runtimes are measured side by side
// under the same load on the same machine.
//
//   kubelet_bench --endpoint cradle=unix:///tmp/kb/cradle.sock
//                 --endpoint containerd=unix:///tmp/kb/containerd.sock
//                 --image registry.k8s.io/e2e-test-images/busybox:1.29-2
//                 -n 20 --parallel 8 [--floor] [--memory-pods 100]
//                 [--pid cradle=PID --pid containerd=PID]
//
// A pod is a besteffort pod with one container, its requests shaped like the
// kubelet's (kuberuntime's sandbox and container configs: labels,
// annotations, DNS, cgroup parent, seccomp RuntimeDefault, masked and
// read-only paths, the service account, /etc/hosts and termination-log
// mounts, the service env vars). Start is the kubelet's sequence:
// RunPodSandbox, PodSandboxStatus, ImageStatus, CreateContainer (image by
// id, as the kubelet sends it), StartContainer, ContainerStatus. Stop is its
// kill then garbage collection: StopContainer (grace 30 s; the container
// exits on SIGTERM), StopPodSandbox, RemoveContainer, RemovePodSandbox.
//
// Phases, in order:
//  1. memory (with --pid and --memory-pods N): each daemon's VmRSS/RssAnon
//     idle, then after N pods were started and removed (--parallel at a
//     time), endpoint after endpoint.
//  2. one pod at a time, n rounds; a round runs each endpoint once, the
//     first endpoint rotating each round so none always goes first.
//  3. --parallel P pods at a time, --parallel-rounds rounds (default n),
//     interleaved the same way; endpoints never run at the same time.
//  4. the floor (--floor, as root): runc and crun create/start/delete of a
//     bundle of the same image, and the CNI chain (loopback, then the
//     conflist's plugins) ADD/DEL in a fresh netns, by exec'ing the plugins.
// Then the tables: p50/p90 per step per endpoint and each endpoint's ratio
// to the first. Nothing here asserts a speed.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/cri_client.h"
#include "nlohmann/json.hpp"

namespace cradle::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kNamespace[] = "kubelet-bench";
constexpr char kContainer[] = "app";
constexpr char kRunLabel[] = "kubelet-bench.cradle.dev/run";
constexpr int64_t kGraceSeconds = 30;

// Steps, in the order they are printed.
const char* const kStartSteps[] = {"RunPodSandbox",     "PodSandboxStatus",
                                   "ImageStatus",       "CreateContainer",
                                   "StartContainer",    "ContainerStatus",
                                   "runp+create+start", "start, all calls"};
const char* const kStopSteps[] = {"StopContainer", "StopPodSandbox",
                                  "RemoveContainer", "RemovePodSandbox",
                                  "stop+remove total"};

struct Options {
  std::vector<std::pair<std::string, std::string>> endpoints;  // name, target
  std::map<std::string, int> pids;  // endpoint name -> daemon pid
  std::string image;
  int n = 5;
  int parallel = 8;
  int parallel_rounds = -1;  // -1: n
  std::string runtime_handler;
  std::string cgroup_driver = "cgroupfs";
  std::string work_dir = "/tmp/kubelet-bench";
  int memory_pods = 0;
  bool floor = false;
  int floor_n = -1;                       // -1: n
  std::string floor_source;               // skopeo source of the image
  std::string mirror = "127.0.0.1:5000";  // for the default floor_source
  std::string cni_conf;                   // conflist for the CNI floor
  std::vector<std::string> cni_bin_dirs = {"/usr/lib/cni", "/opt/cni/bin"};
};

using StepMs = std::map<std::string, std::vector<double>>;

struct Endpoint {
  std::string name;
  std::unique_ptr<CriClient> client;
  std::string image_id;  // from ImageStatus, what CreateContainer names
  int pid = 0;
  // Per phase ("1 at a time", "8 at a time"): step -> ms.
  std::map<std::string, StepMs> ms;
  std::map<std::string, double> start_seconds;  // phase -> batch wall time
  std::map<std::string, double> stop_seconds;
  std::map<std::string, int> pods;  // phase -> pods started
  std::atomic<int> failures{0};
  uint64_t rss_idle = 0, anon_idle = 0, rss_after = 0, anon_after = 0;
};

// ---------------------------------------------------------------------------
// Running programs (the floor). Output goes to a file, never a pipe: a
// container runc creates inherits runc's stdio and would hold a pipe open.

struct RunResult {
  int exit_code = -1;
  std::string out;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteFile(const std::string& path, absl::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// Runs argv[0] (a path, or a name looked up in PATH) with `env` added to our
// environment and `stdin_data` on its stdin; waits for it. `scratch` is a
// file prefix for stdin and output.
absl::StatusOr<RunResult> Run(const std::vector<std::string>& argv,
                              const std::vector<std::string>& env,
                              absl::string_view stdin_data,
                              const std::string& scratch) {
  std::string in_path = scratch + ".in", out_path = scratch + ".out";
  if (absl::Status s = WriteFile(in_path, stdin_data); !s.ok()) return s;
  std::vector<std::string> envs = env;
  for (char** e = environ; *e != nullptr; ++e) {
    absl::string_view key = absl::string_view(*e).substr(
        0, absl::string_view(*e).find('=') + 1);  // "NAME="
    if (std::none_of(env.begin(), env.end(), [&](const std::string& mine) {
          return absl::StartsWith(mine, key);
        })) {
      envs.push_back(*e);
    }
  }
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  for (const std::string& e : envs) {
    cenv.push_back(const_cast<char*>(e.c_str()));
  }
  cenv.push_back(nullptr);
  int in_fd = open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  int out_fd =
      open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (in_fd < 0 || out_fd < 0) {
    if (in_fd >= 0) close(in_fd);
    if (out_fd >= 0) close(out_fd);
    return absl::InternalError(absl::StrCat("cannot open ", scratch, ".*"));
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    execvpe(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  close(in_fd);
  close(out_fd);
  if (pid < 0) return absl::InternalError("fork failed");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  RunResult r;
  r.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  absl::StatusOr<std::string> out = ReadFile(out_path);
  if (out.ok()) r.out = *std::move(out);
  return r;
}

// Run, and an error naming the command unless it exited 0.
absl::StatusOr<std::string> RunOk(const std::vector<std::string>& argv,
                                  const std::vector<std::string>& env,
                                  absl::string_view stdin_data,
                                  const std::string& scratch) {
  absl::StatusOr<RunResult> r = Run(argv, env, stdin_data, scratch);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": exit ",
                                            r->exit_code, ": ", r->out));
  }
  return std::move(r->out);
}

double MsSince(absl::Time start) {
  return absl::ToDoubleMilliseconds(absl::Now() - start);
}

// ---------------------------------------------------------------------------
// One pod as the kubelet makes it.

struct Pod {
  std::string name, uid, dir, log_dir;
  std::string termination_log;  // host side; the container writes "ready"
  v1::PodSandboxConfig sandbox;
  v1::ContainerConfig container;
  std::string sandbox_id, container_id;
  bool running = false;  // every start step succeeded
};

class PodFactory {
 public:
  PodFactory(const Options& options, std::string run)
      : options_(options), run_(std::move(run)) {
    for (const auto& e : fs::directory_iterator(
             "/sys/kernel/mm/hugepages",
             fs::directory_options::skip_permission_denied, ec_)) {
      // hugepages-2048kB -> 2MB, hugepages-1048576kB -> 1GB (the kubelet's
      // names for the sizes it lists, each with limit 0 for besteffort).
      std::string name = e.path().filename().native();
      absl::string_view n = name;
      int64_t kb = 0;
      if (absl::ConsumePrefix(&n, "hugepages-") &&
          absl::ConsumeSuffix(&n, "kB") && absl::SimpleAtoi(n, &kb)) {
        hugepage_sizes_.push_back(kb >= 1048576
                                      ? absl::StrCat(kb / 1048576, "GB")
                                  : kb >= 1024 ? absl::StrCat(kb / 1024, "MB")
                                               : absl::StrCat(kb, "KB"));
      }
    }
  }

  // Makes pod `i`'s files (the kubelet's pod dir: etc-hosts, the
  // termination-log file, the service account volume; its log dir) and
  // requests.
  absl::StatusOr<Pod> Make(const std::string& endpoint, int i) {
    Pod p;
    p.name = absl::StrCat("kb-", endpoint, "-", i);
    uint64_t h =
        std::hash<std::string>()(absl::StrCat(run_, "/", p.name, "/", seq_++));
    p.uid = absl::StrFormat("%08x-%04x-4%03x-a%03x-%012x", h >> 32,
                            (h >> 16) & 0xffff, h & 0xfff, (h >> 20) & 0xfff,
                            (h * 2654435761u) & 0xffffffffffffULL);
    p.dir = absl::StrCat(options_.work_dir, "/pods/", p.uid);
    p.log_dir = absl::StrCat(options_.work_dir, "/logs/", kNamespace, "_",
                             p.name, "_", p.uid);
    std::error_code ec;
    std::string term_dir = absl::StrCat(p.dir, "/containers/", kContainer);
    std::string sa_dir =
        absl::StrCat(p.dir, "/volumes/kubernetes.io~projected/kube-api-access-",
                     p.uid.substr(0, 5));
    for (const std::string& d : {term_dir, sa_dir, p.log_dir}) {
      fs::create_directories(d, ec);
      if (ec) {
        return absl::InternalError(
            absl::StrCat("mkdir ", d, ": ", ec.message()));
      }
    }
    std::string hosts = absl::StrCat(p.dir, "/etc-hosts");
    std::string term = absl::StrCat(term_dir, "/", p.uid.substr(9, 4), "b0c1");
    absl::Status s =
        WriteFile(hosts, absl::StrCat("# Kubernetes-managed hosts file.\n"
                                      "127.0.0.1\tlocalhost\n::1\tlocalhost "
                                      "ip6-localhost ip6-loopback\n"
                                      "10.88.0.2\t",
                                      p.name, "\n"));
    if (s.ok()) s = WriteFile(term, "");
    p.termination_log = term;
    if (s.ok()) s = WriteFile(sa_dir + "/namespace", kNamespace);
    if (s.ok()) s = WriteFile(sa_dir + "/token", std::string(900, 'x'));
    if (s.ok()) s = WriteFile(sa_dir + "/ca.crt", std::string(1100, 'c'));
    if (!s.ok()) return s;

    v1::PodSandboxConfig& c = p.sandbox;
    c.mutable_metadata()->set_name(p.name);
    c.mutable_metadata()->set_uid(p.uid);
    c.mutable_metadata()->set_namespace_(kNamespace);
    c.mutable_metadata()->set_attempt(0);
    c.set_hostname(p.name);
    c.set_log_directory(p.log_dir);
    v1::DNSConfig* dns = c.mutable_dns_config();
    dns->add_servers("10.96.0.10");
    dns->add_searches(absl::StrCat(kNamespace, ".svc.cluster.local"));
    dns->add_searches("svc.cluster.local");
    dns->add_searches("cluster.local");
    dns->add_options("ndots:5");
    auto& labels = *c.mutable_labels();
    labels["app"] = "kubelet-bench";
    labels["pod-template-hash"] = "7c9f5d8b6d";
    labels["io.kubernetes.pod.name"] = p.name;
    labels["io.kubernetes.pod.namespace"] = kNamespace;
    labels["io.kubernetes.pod.uid"] = p.uid;
    labels[kRunLabel] = run_;
    auto& annotations = *c.mutable_annotations();
    annotations["kubernetes.io/config.seen"] =
        absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone());
    annotations["kubernetes.io/config.source"] = "api";
    v1::LinuxPodSandboxConfig* linux = c.mutable_linux();
    std::string uid_underscored = p.uid;
    std::replace(uid_underscored.begin(), uid_underscored.end(), '-', '_');
    linux->set_cgroup_parent(
        options_.cgroup_driver == "systemd"
            ? absl::StrCat("kubepods-besteffort-pod", uid_underscored, ".slice")
            : absl::StrCat("/kubepods/besteffort/pod", p.uid));
    v1::LinuxSandboxSecurityContext* sc = linux->mutable_security_context();
    SetNamespaces(sc->mutable_namespace_options());
    sc->mutable_seccomp()->set_profile_type(
        v1::SecurityProfile::RuntimeDefault);
    v1::LinuxContainerResources* pr = linux->mutable_resources();
    pr->set_cpu_period(100000);
    pr->set_cpu_shares(2);

    v1::ContainerConfig& k = p.container;
    k.mutable_metadata()->set_name(kContainer);
    k.mutable_metadata()->set_attempt(0);
    // The kubelet names the image by the id ImageStatus answered; set at
    // CreateContainer time.
    k.mutable_image()->set_user_specified_image(options_.image);
    // A container that exits on SIGTERM, as a well-behaved app does, so
    // StopContainer measures the runtime and not the grace period. As PID 1
    // it ignores SIGTERM until its trap is set; it says when through the
    // termination-log file, which WaitReady watches before any stop.
    k.add_command("sh");
    k.add_command("-c");
    k.add_command(
        "trap 'exit 0' TERM; echo ready >/dev/termination-log; "
        "sleep 3600 & wait");
    auto env = [&](const char* key, const std::string& value) {
      v1::KeyValue* kv = k.add_envs();
      kv->set_key(key);
      kv->set_value(value);
    };
    env("POD_NAME", p.name);
    env("POD_NAMESPACE", kNamespace);
    env("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    env("KUBERNETES_SERVICE_PORT", "443");
    env("KUBERNETES_SERVICE_PORT_HTTPS", "443");
    env("KUBERNETES_PORT", "tcp://10.96.0.1:443");
    env("KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443");
    env("KUBERNETES_PORT_443_TCP_PROTO", "tcp");
    env("KUBERNETES_PORT_443_TCP_PORT", "443");
    env("KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1");
    auto mount = [&](const std::string& host, const char* path, bool ro) {
      v1::Mount* m = k.add_mounts();
      m->set_host_path(host);
      m->set_container_path(path);
      m->set_readonly(ro);
      m->set_propagation(v1::PROPAGATION_PRIVATE);
    };
    mount(sa_dir, "/var/run/secrets/kubernetes.io/serviceaccount", true);
    mount(hosts, "/etc/hosts", false);
    mount(term, "/dev/termination-log", false);
    auto& clabels = *k.mutable_labels();
    clabels["io.kubernetes.container.name"] = kContainer;
    clabels["io.kubernetes.pod.name"] = p.name;
    clabels["io.kubernetes.pod.namespace"] = kNamespace;
    clabels["io.kubernetes.pod.uid"] = p.uid;
    auto& cann = *k.mutable_annotations();
    cann["io.kubernetes.container.hash"] = "5d1e6c5a";
    cann["io.kubernetes.container.restartCount"] = "0";
    cann["io.kubernetes.container.terminationMessagePath"] =
        "/dev/termination-log";
    cann["io.kubernetes.container.terminationMessagePolicy"] = "File";
    cann["io.kubernetes.pod.terminationGracePeriod"] =
        absl::StrCat(kGraceSeconds);
    k.set_log_path(absl::StrCat(kContainer, "/0.log"));
    v1::LinuxContainerConfig* cl = k.mutable_linux();
    v1::LinuxContainerResources* r = cl->mutable_resources();
    r->set_cpu_period(100000);
    r->set_cpu_shares(2);
    r->set_oom_score_adj(1000);
    for (const std::string& size : hugepage_sizes_) {
      v1::HugepageLimit* hl = r->add_hugepage_limits();
      hl->set_page_size(size);
      hl->set_limit(0);
    }
    v1::LinuxContainerSecurityContext* csc = cl->mutable_security_context();
    SetNamespaces(csc->mutable_namespace_options());
    csc->mutable_seccomp()->set_profile_type(
        v1::SecurityProfile::RuntimeDefault);
    for (const char* path :
         {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
          "/proc/scsi", "/sys/firmware"}) {
      csc->add_masked_paths(path);
    }
    for (const char* path : {"/proc/asound", "/proc/bus", "/proc/fs",
                             "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}) {
      csc->add_readonly_paths(path);
    }
    return p;
  }

  // Removes what Make made, and the pod's cgroup dirs that the kubelet's
  // pod cgroup manager would remove (cgroupfs driver).
  void Clean(const Pod& p) {
    std::error_code ec;
    if (!p.dir.empty()) fs::remove_all(p.dir, ec);
    if (!p.log_dir.empty()) fs::remove_all(p.log_dir, ec);
    if (options_.cgroup_driver != "cgroupfs") return;
    for (const auto& h : fs::directory_iterator(
             "/sys/fs/cgroup", fs::directory_options::skip_permission_denied,
             ec)) {
      std::string d =
          absl::StrCat(h.path().native(), "/kubepods/besteffort/pod", p.uid);
      rmdir(d.c_str());  // fails harmlessly where it is absent or busy
    }
  }

 private:
  static void SetNamespaces(v1::NamespaceOption* ns) {
    ns->set_network(v1::POD);
    ns->set_pid(v1::CONTAINER);
    ns->set_ipc(v1::POD);
  }

  const Options& options_;
  const std::string run_;
  std::error_code ec_;
  std::vector<std::string> hugepage_sizes_;
  std::atomic<uint64_t> seq_{0};
};

// ---------------------------------------------------------------------------

class KubeletBench {
 public:
  explicit KubeletBench(Options options)
      : options_(std::move(options)),
        run_(absl::StrCat(absl::ToUnixMillis(absl::Now()))),
        factory_(options_, run_) {
    for (const auto& [name, target] : options_.endpoints) {
      auto e = std::make_unique<Endpoint>();
      e->name = name;
      e->client = std::make_unique<CriClient>(target);
      auto pid = options_.pids.find(name);
      if (pid != options_.pids.end()) e->pid = pid->second;
      endpoints_.push_back(std::move(e));
    }
  }

  int Run() {
    for (auto& e : endpoints_) {
      if (absl::Status s = Prepare(*e); !s.ok()) {
        std::cerr << e->name << ": " << s << "\n";
        return 1;
      }
    }
    std::printf("run %s: image %s, handler %s, cgroup driver %s\n",
                run_.c_str(), options_.image.c_str(),
                options_.runtime_handler.empty()
                    ? "(default)"
                    : options_.runtime_handler.c_str(),
                options_.cgroup_driver.c_str());
    if (options_.memory_pods > 0) MemoryPhase();
    // One untimed pod each, so no endpoint pays a first-pod cost in the
    // tables.
    for (auto& e : endpoints_) (void)OnePod(*e, "warm-up", -1, nullptr);
    std::string one = "1 at a time";
    for (int r = 0; r < options_.n; ++r) {
      for (Endpoint* e : RoundOrder(r)) Batch(*e, one, 1, r);
    }
    int rounds =
        options_.parallel_rounds >= 0 ? options_.parallel_rounds : options_.n;
    std::string par = absl::StrCat(options_.parallel, " at a time");
    if (options_.parallel > 1) {
      for (int r = 0; r < rounds; ++r) {
        for (Endpoint* e : RoundOrder(r)) Batch(*e, par, options_.parallel, r);
      }
    }
    Print(one);
    if (options_.parallel > 1 && rounds > 0) Print(par);
    if (options_.memory_pods > 0) PrintMemory();
    int status = 0;
    if (options_.floor) status = Floor();
    for (auto& e : endpoints_) {
      if (int left = Sweep(*e); left > 0) {
        std::printf("%s: removed %d leftover pod(s) of this run\n",
                    e->name.c_str(), left);
      }
      if (e->failures > 0) status = 1;
    }
    return status;
  }

 private:
  // Version, and the image present (pulled if it is not, untimed).
  absl::Status Prepare(Endpoint& e) {
    v1::VersionRequest vreq;
    v1::VersionResponse version;
    absl::Status s =
        e.client->Call(e.client->runtime(), &v1::RuntimeService::Stub::Version,
                       vreq, &version, absl::Seconds(10));
    if (!s.ok()) return s;
    std::printf("%-12s %s: %s %s (CRI %s)%s\n", e.name.c_str(),
                e.client->endpoint().c_str(), version.runtime_name().c_str(),
                version.runtime_version().c_str(),
                version.runtime_api_version().c_str(),
                e.pid > 0 ? absl::StrCat(", pid ", e.pid).c_str() : "");
    absl::StatusOr<std::string> id = ImageId(e);
    if (!id.ok()) return id.status();
    if (id->empty()) {
      v1::PullImageRequest pull;
      pull.mutable_image()->set_image(options_.image);
      v1::PullImageResponse pulled;
      s = e.client->Call(e.client->images(), &v1::ImageService::Stub::PullImage,
                         pull, &pulled);
      if (!s.ok()) return s;
      id = ImageId(e);
      if (!id.ok()) return id.status();
      if (id->empty()) return absl::NotFoundError("image absent after pull");
    }
    e.image_id = *id;
    return absl::OkStatus();
  }

  // The image's id as ImageStatus answers it; "" when absent.
  absl::StatusOr<std::string> ImageId(Endpoint& e) {
    v1::ImageStatusRequest req;
    req.mutable_image()->set_image(options_.image);
    v1::ImageStatusResponse resp;
    absl::Status s = e.client->Call(
        e.client->images(), &v1::ImageService::Stub::ImageStatus, req, &resp);
    if (!s.ok()) return s;
    return resp.has_image() ? resp.image().id() : "";
  }

  std::vector<Endpoint*> RoundOrder(int round) {
    std::vector<Endpoint*> order;
    size_t k = endpoints_.size();
    for (size_t j = 0; j < k; ++j) {
      order.push_back(endpoints_[(j + round) % k].get());
    }
    return order;
  }

  // Starts pod `i` as the kubelet does, recording each step in `ms` (when
  // not null); false and a message when a step failed. The pod is left for
  // StopPod whatever happened.
  bool StartPod(Endpoint& e, Pod& p, StepMs* ms, absl::Mutex* mu) {
    CriClient& c = *e.client;
    std::vector<std::pair<const char*, double>> took;
    auto step = [&](const char* name, const std::function<absl::Status()>& f) {
      absl::Time t = absl::Now();
      absl::Status s = f();
      took.emplace_back(name, MsSince(t));
      if (!s.ok()) {
        std::cerr << e.name << " " << p.name << " " << name << ": " << s
                  << "\n";
      }
      return s.ok();
    };
    absl::Time begin = absl::Now();
    bool ok = step("RunPodSandbox", [&] {
      v1::RunPodSandboxRequest req;
      *req.mutable_config() = p.sandbox;
      req.set_runtime_handler(options_.runtime_handler);
      v1::RunPodSandboxResponse resp;
      absl::Status s = c.Call(
          c.runtime(), &v1::RuntimeService::Stub::RunPodSandbox, req, &resp);
      p.sandbox_id = resp.pod_sandbox_id();
      return s;
    });
    ok = ok && step("PodSandboxStatus", [&] {
           v1::PodSandboxStatusRequest req;
           req.set_pod_sandbox_id(p.sandbox_id);
           v1::PodSandboxStatusResponse resp;
           absl::Status s =
               c.Call(c.runtime(), &v1::RuntimeService::Stub::PodSandboxStatus,
                      req, &resp);
           if (s.ok() && resp.status().state() != v1::SANDBOX_READY) {
             s = absl::FailedPreconditionError("sandbox not ready");
           }
           return s;
         });
    std::string image_id;
    ok = ok && step("ImageStatus", [&] {
           absl::StatusOr<std::string> id = ImageId(e);
           if (!id.ok()) return id.status();
           if (id->empty()) return absl::NotFoundError("image gone");
           image_id = *id;
           return absl::OkStatus();
         });
    ok = ok && step("CreateContainer", [&] {
           v1::CreateContainerRequest req;
           req.set_pod_sandbox_id(p.sandbox_id);
           *req.mutable_config() = p.container;
           req.mutable_config()->mutable_image()->set_image(image_id);
           *req.mutable_sandbox_config() = p.sandbox;
           v1::CreateContainerResponse resp;
           absl::Status s =
               c.Call(c.runtime(), &v1::RuntimeService::Stub::CreateContainer,
                      req, &resp);
           p.container_id = resp.container_id();
           return s;
         });
    ok = ok && step("StartContainer", [&] {
           v1::StartContainerRequest req;
           req.set_container_id(p.container_id);
           v1::StartContainerResponse resp;
           return c.Call(c.runtime(), &v1::RuntimeService::Stub::StartContainer,
                         req, &resp);
         });
    ok = ok && step("ContainerStatus", [&] {
           v1::ContainerStatusRequest req;
           req.set_container_id(p.container_id);
           v1::ContainerStatusResponse resp;
           absl::Status s =
               c.Call(c.runtime(), &v1::RuntimeService::Stub::ContainerStatus,
                      req, &resp);
           if (s.ok() && resp.status().state() != v1::CONTAINER_RUNNING) {
             s = absl::FailedPreconditionError(
                 absl::StrCat("container not running: ",
                              v1::ContainerState_Name(resp.status().state())));
           }
           return s;
         });
    double all = MsSince(begin);
    p.running = ok;
    if (ok && ms != nullptr) {
      absl::MutexLock lock(mu);
      double sum = 0;
      for (const auto& [name, v] : took) {
        (*ms)[name].push_back(v);
        if (absl::string_view(name) == "RunPodSandbox" ||
            absl::string_view(name) == "CreateContainer" ||
            absl::string_view(name) == "StartContainer") {
          sum += v;
        }
      }
      (*ms)["runp+create+start"].push_back(sum);
      (*ms)["start, all calls"].push_back(all);
    }
    return ok;
  }

  // The kubelet's kill (StopContainer with the grace period, then
  // StopPodSandbox) and its garbage collection (RemoveContainer,
  // RemovePodSandbox). Steps after a failed one still run, untimed.
  bool StopPod(Endpoint& e, Pod& p, StepMs* ms, absl::Mutex* mu) {
    CriClient& c = *e.client;
    std::vector<std::pair<const char*, double>> took;
    bool ok = true;
    auto step = [&](const char* name, const std::function<absl::Status()>& f) {
      absl::Time t = absl::Now();
      absl::Status s = f();
      took.emplace_back(name, MsSince(t));
      if (!s.ok()) {
        std::cerr << e.name << " " << p.name << " " << name << ": " << s
                  << "\n";
        ok = false;
      }
    };
    absl::Time begin = absl::Now();
    if (!p.container_id.empty()) {
      step("StopContainer", [&] {
        v1::StopContainerRequest req;
        req.set_container_id(p.container_id);
        req.set_timeout(kGraceSeconds);
        v1::StopContainerResponse resp;
        return c.Call(c.runtime(), &v1::RuntimeService::Stub::StopContainer,
                      req, &resp);
      });
    }
    if (!p.sandbox_id.empty()) {
      step("StopPodSandbox", [&] {
        v1::StopPodSandboxRequest req;
        req.set_pod_sandbox_id(p.sandbox_id);
        v1::StopPodSandboxResponse resp;
        return c.Call(c.runtime(), &v1::RuntimeService::Stub::StopPodSandbox,
                      req, &resp);
      });
    }
    if (!p.container_id.empty()) {
      step("RemoveContainer", [&] {
        v1::RemoveContainerRequest req;
        req.set_container_id(p.container_id);
        v1::RemoveContainerResponse resp;
        return c.Call(c.runtime(), &v1::RuntimeService::Stub::RemoveContainer,
                      req, &resp);
      });
    }
    if (!p.sandbox_id.empty()) {
      step("RemovePodSandbox", [&] {
        v1::RemovePodSandboxRequest req;
        req.set_pod_sandbox_id(p.sandbox_id);
        v1::RemovePodSandboxResponse resp;
        return c.Call(c.runtime(), &v1::RuntimeService::Stub::RemovePodSandbox,
                      req, &resp);
      });
    }
    double all = MsSince(begin);
    if (ok && ms != nullptr && took.size() == 4) {
      absl::MutexLock lock(mu);
      for (const auto& [name, v] : took) (*ms)[name].push_back(v);
      (*ms)["stop+remove total"].push_back(all);
    }
    factory_.Clean(p);
    return ok;
  }

  // Waits (untimed) until the pod's container has set its SIGTERM trap.
  static void WaitReady(const Endpoint& e, const Pod& p) {
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    std::error_code ec;
    while (absl::Now() < deadline) {
      if (fs::file_size(p.termination_log, ec) > 0 && !ec) return;
      absl::SleepFor(absl::Milliseconds(2));
    }
    std::cerr << e.name << " " << p.name
              << ": container not ready after 20 s; its stop may wait for "
                 "the grace period\n";
  }

  // One pod's start and stop, untimed unless `ms`.
  bool OnePod(Endpoint& e, const std::string& tag, int i, StepMs* ms) {
    absl::StatusOr<Pod> p = factory_.Make(e.name, i < 0 ? 999999 : i);
    if (!p.ok()) {
      std::cerr << tag << ": " << p.status() << "\n";
      ++e.failures;
      return false;
    }
    absl::Mutex mu;
    bool ok = StartPod(e, *p, ms, &mu);
    if (ok) WaitReady(e, *p);
    ok = StopPod(e, *p, ms, &mu) && ok;
    if (!ok) ++e.failures;
    return ok;
  }

  // `count` pods at once on `e`: all started (the batch's start time), then
  // all stopped and removed (its stop time).
  void Batch(Endpoint& e, const std::string& phase, int count, int round) {
    std::vector<Pod> pods;
    for (int k = 0; k < count; ++k) {
      absl::StatusOr<Pod> p = factory_.Make(e.name, round * count + k);
      if (!p.ok()) {
        std::cerr << p.status() << "\n";
        ++e.failures;
        continue;
      }
      pods.push_back(*std::move(p));
    }
    if (pods.empty()) return;
    StepMs& ms = e.ms[phase];
    absl::Mutex mu;
    std::atomic<int> started{0};
    auto all = [&](const std::function<bool(Pod&)>& f) {
      absl::Time t = absl::Now();
      if (pods.size() == 1) {
        if (!f(pods[0])) ++e.failures;
      } else {
        std::vector<std::thread> threads;
        std::atomic<int> failed{0};
        for (Pod& p : pods) {
          threads.emplace_back([&f, &p, &failed] {
            if (!f(p)) ++failed;
          });
        }
        for (std::thread& th : threads) th.join();
        e.failures += failed.load();
      }
      return absl::ToDoubleSeconds(absl::Now() - t);
    };
    e.start_seconds[phase] += all([&](Pod& p) {
      bool ok = StartPod(e, p, &ms, &mu);
      if (ok) ++started;
      return ok;
    });
    e.pods[phase] += started.load();
    for (const Pod& p : pods) {
      if (p.running) WaitReady(e, p);
    }
    e.stop_seconds[phase] +=
        all([&](Pod& p) { return StopPod(e, p, &ms, &mu); });
  }

  // Stops and removes any pod of this run still on `e`; how many there were.
  int Sweep(Endpoint& e) {
    CriClient& c = *e.client;
    v1::ListPodSandboxRequest req;
    (*req.mutable_filter()->mutable_label_selector())[kRunLabel] = run_;
    v1::ListPodSandboxResponse resp;
    if (!c.Call(c.runtime(), &v1::RuntimeService::Stub::ListPodSandbox, req,
                &resp)
             .ok()) {
      return 0;
    }
    for (const v1::PodSandbox& s : resp.items()) {
      Pod p;
      p.sandbox_id = s.id();
      p.uid = s.metadata().uid();
      (void)StopPod(e, p, nullptr, nullptr);
    }
    return resp.items_size();
  }

  void MemoryPhase() {
    for (auto& e : endpoints_) {
      if (e->pid <= 0) continue;
      e->rss_idle = ProcKb(e->pid, "status", "VmRSS");
      e->anon_idle = ProcKb(e->pid, "status", "RssAnon");
    }
    for (auto& e : endpoints_) {
      absl::Time t = absl::Now();
      std::atomic<int> next{0};
      std::vector<std::thread> workers;
      for (int w = 0; w < std::max(1, options_.parallel); ++w) {
        workers.emplace_back([&] {
          for (int i; (i = next++) < options_.memory_pods;) {
            (void)OnePod(*e, "memory", 100000 + i, nullptr);
          }
        });
      }
      for (std::thread& th : workers) th.join();
      std::printf(
          "%-12s %d pods started and removed for the memory figures "
          "in %.1f s\n",
          e->name.c_str(), options_.memory_pods,
          absl::ToDoubleSeconds(absl::Now() - t));
    }
    absl::SleepFor(absl::Seconds(2));  // let exits and reaping settle
    for (auto& e : endpoints_) {
      if (e->pid <= 0) continue;
      e->rss_after = ProcKb(e->pid, "status", "VmRSS");
      e->anon_after = ProcKb(e->pid, "status", "RssAnon");
    }
  }

  // p50/p90 per step, one column per endpoint, then each endpoint's p50 and
  // p90 over the first's.
  void Print(const std::string& phase) {
    std::printf("\n== %s: ms p50 / p90 (n per step in brackets)\n",
                phase.c_str());
    std::printf("%-20s", "step");
    for (auto& e : endpoints_) std::printf(" %22s", e->name.c_str());
    for (size_t j = 1; j < endpoints_.size(); ++j) {
      std::printf(
          " %18s",
          absl::StrCat(endpoints_[j]->name, "/", endpoints_[0]->name).c_str());
    }
    std::printf("\n");
    auto row = [&](const char* step) {
      std::printf("%-20s", step);
      std::vector<std::pair<double, double>> p;
      for (auto& e : endpoints_) {
        std::vector<double> v = e->ms[phase][step];
        if (v.empty()) {
          std::printf(" %22s", "-");
          p.emplace_back(0, 0);
          continue;
        }
        std::sort(v.begin(), v.end());
        p.emplace_back(Percentile(v, 0.5), Percentile(v, 0.9));
        std::printf(" %22s", absl::StrFormat("%.1f / %.1f [%d]", p.back().first,
                                             p.back().second, v.size())
                                 .c_str());
      }
      for (size_t j = 1; j < p.size(); ++j) {
        if (p[0].first > 0 && p[j].first > 0) {
          std::printf(" %18s",
                      absl::StrFormat("%.2f / %.2f", p[j].first / p[0].first,
                                      p[j].second / p[0].second)
                          .c_str());
        } else {
          std::printf(" %18s", "-");
        }
      }
      std::printf("\n");
    };
    for (const char* s : kStartSteps) row(s);
    for (const char* s : kStopSteps) row(s);
    std::printf("%-20s", "pods/s started");
    for (auto& e : endpoints_) {
      double sec = e->start_seconds[phase];
      std::printf(" %22s",
                  sec > 0
                      ? absl::StrFormat("%.2f", e->pods[phase] / sec).c_str()
                      : "-");
    }
    std::printf("\n%-20s", "pods/s stopped");
    for (auto& e : endpoints_) {
      double sec = e->stop_seconds[phase];
      std::printf(" %22s",
                  sec > 0
                      ? absl::StrFormat("%.2f", e->pods[phase] / sec).c_str()
                      : "-");
    }
    std::printf("\n%-20s", "failures (so far)");
    for (auto& e : endpoints_) std::printf(" %22d", e->failures.load());
    std::printf("\n");
  }

  void PrintMemory() {
    std::printf(
        "\n== daemon memory, MiB: idle -> after %d pods started and "
        "removed\n",
        options_.memory_pods);
    for (auto& e : endpoints_) {
      if (e->pid <= 0) {
        std::printf("%-12s (no --pid)\n", e->name.c_str());
        continue;
      }
      std::printf(
          "%-12s pid %-7d VmRSS %6.1f -> %6.1f   RssAnon %6.1f -> "
          "%6.1f\n",
          e->name.c_str(), e->pid, e->rss_idle / 1024.0, e->rss_after / 1024.0,
          e->anon_idle / 1024.0, e->anon_after / 1024.0);
    }
  }

  // ----- the floor -----

  int Floor() {
    int floor_n = options_.floor_n >= 0 ? options_.floor_n : options_.n;
    std::string dir = absl::StrCat(options_.work_dir, "/floor");
    std::error_code ec;
    fs::create_directories(dir, ec);
    int status = 0;
    absl::StatusOr<std::string> bundle = MakeBundle(dir);
    if (!bundle.ok()) {
      std::cerr << "floor: bundle: " << bundle.status() << "\n";
      status = 1;
    } else {
      for (const char* runtime : {"runc", "crun"}) {
        if (absl::Status s = FloorRuntime(runtime, *bundle, dir, floor_n);
            !s.ok()) {
          std::cerr << "floor: " << runtime << ": " << s << "\n";
          status = 1;
        }
      }
    }
    if (absl::Status s = FloorCni(dir, floor_n); !s.ok()) {
      std::cerr << "floor: CNI: " << s << "\n";
      status = 1;
    }
    return status;
  }

  // The image as an OCI bundle: skopeo copy to an OCI layout, umoci unpack,
  // and `runc spec`'s config running `sleep 3600` without a terminal.
  absl::StatusOr<std::string> MakeBundle(const std::string& dir) {
    std::string bundle = dir + "/bundle";
    std::string layout = dir + "/oci";
    std::string scratch = dir + "/cmd";
    std::error_code ec;
    fs::remove_all(bundle, ec);
    fs::remove_all(layout, ec);
    std::string source = options_.floor_source;
    if (source.empty()) {
      // registry.k8s.io/x/y:t -> docker://<mirror>/x/y:t
      std::vector<std::string> parts =
          absl::StrSplit(options_.image, absl::MaxSplits('/', 1));
      source = absl::StrCat("docker://", options_.mirror, "/",
                            parts.size() == 2 ? parts[1] : options_.image);
    }
    absl::StatusOr<std::string> out =
        RunOk({"skopeo", "copy", "--quiet", "--src-tls-verify=false", source,
               absl::StrCat("oci:", layout, ":bench")},
              {}, "", scratch);
    if (!out.ok()) return out.status();
    out = RunOk(
        {"umoci", "unpack", "--image", absl::StrCat(layout, ":bench"), bundle},
        {}, "", scratch);
    if (!out.ok()) return out.status();
    fs::remove(bundle + "/config.json", ec);
    out = RunOk({"runc", "spec", "--bundle", bundle}, {}, "", scratch);
    if (!out.ok()) return out.status();
    absl::StatusOr<std::string> text = ReadFile(bundle + "/config.json");
    if (!text.ok()) return text.status();
    json spec = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!spec.is_object() || !spec["process"].is_object()) {
      return absl::InternalError("runc spec wrote no process");
    }
    spec["process"]["terminal"] = false;
    spec["process"]["args"] = json::array({"sleep", "3600"});
    if (absl::Status s = WriteFile(bundle + "/config.json", spec.dump(2));
        !s.ok()) {
      return s;
    }
    return bundle;
  }

  // `runtime` create, start and delete -f of the bundle, n times, with its
  // own state dir.
  absl::Status FloorRuntime(const std::string& runtime,
                            const std::string& bundle, const std::string& dir,
                            int n) {
    std::string root = absl::StrCat(dir, "/", runtime, "-root");
    std::string scratch = dir + "/cmd";
    StepMs ms;
    for (int i = 0; i < n; ++i) {
      std::string id = absl::StrCat("kbfloor-", run_, "-", i);
      absl::Time t0 = absl::Now();
      absl::StatusOr<std::string> out =
          RunOk({runtime, "--root", root, "create", "--bundle", bundle, id}, {},
                "", scratch);
      double create = MsSince(t0);
      absl::Time t1 = absl::Now();
      if (out.ok()) {
        out = RunOk({runtime, "--root", root, "start", id}, {}, "", scratch);
      }
      double start = MsSince(t1);
      absl::Time t2 = absl::Now();
      absl::StatusOr<std::string> del =
          RunOk({runtime, "--root", root, "delete", "-f", id}, {}, "", scratch);
      double remove = MsSince(t2);
      if (!out.ok()) return out.status();
      if (!del.ok()) return del.status();
      ms["create"].push_back(create);
      ms["start"].push_back(start);
      ms["create+start"].push_back(create + start);
      ms["delete -f"].push_back(remove);
    }
    PrintFloor(absl::StrCat("floor: ", runtime, " (busybox bundle, `sleep`)"),
               {"create", "start", "create+start", "delete -f"}, ms);
    return absl::OkStatus();
  }

  // The network config: --cni-conf's conflist, or a bridge of our own.
  absl::StatusOr<json> CniConfig(const std::string& dir) {
    if (!options_.cni_conf.empty()) {
      absl::StatusOr<std::string> text = ReadFile(options_.cni_conf);
      if (!text.ok()) return text.status();
      json conf = json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (!conf.is_object() || !conf["plugins"].is_array()) {
        return absl::InvalidArgumentError(
            absl::StrCat(options_.cni_conf, ": not a conflist"));
      }
      return conf;
    }
    json range = json::object();
    range["subnet"] = "10.88.251.0/24";
    json route = json::object();
    route["dst"] = "0.0.0.0/0";
    json ipam = json::object();
    ipam["type"] = "host-local";
    ipam["dataDir"] = dir + "/ipam";
    ipam["ranges"] = json::array({json::array({range})});
    ipam["routes"] = json::array({route});
    json bridge = json::object();
    bridge["type"] = "bridge";
    bridge["bridge"] = "kbench0";
    bridge["isGateway"] = true;
    bridge["ipMasq"] = false;
    bridge["hairpinMode"] = true;
    bridge["ipam"] = ipam;
    json portmap = json::object();
    portmap["type"] = "portmap";
    portmap["capabilities"] = json::object();
    portmap["capabilities"]["portMappings"] = true;
    json conf = json::object();
    conf["cniVersion"] = "0.4.0";
    conf["name"] = "kubelet-bench";
    conf["plugins"] = json::array({bridge, portmap});
    return conf;
  }

  std::string FindPlugin(const std::string& type) {
    for (const std::string& d : options_.cni_bin_dirs) {
      std::string p = absl::StrCat(d, "/", type);
      if (access(p.c_str(), X_OK) == 0) return p;
    }
    return type;
  }

  // One plugin call as libcni makes it: the plugin's config with the
  // network's name and version, prevResult when there is one, runtimeConfig
  // for the capabilities it declares.
  absl::StatusOr<std::string> CniCall(
      const std::string& command, const json& net, json plugin,
      const std::string& ifname, const std::string& id,
      const std::string& netns, const json& prev, const std::string& scratch) {
    std::string type = plugin.value("type", "");
    plugin["name"] = net.value("name", "net");
    plugin["cniVersion"] = net.value("cniVersion", "0.4.0");
    if (!prev.is_null()) plugin["prevResult"] = prev;
    if (plugin.contains("capabilities") && plugin["capabilities"].is_object() &&
        plugin["capabilities"].value("portMappings", false)) {
      plugin["runtimeConfig"] = {{"portMappings", json::array()}};
    }
    std::vector<std::string> env = {
        "CNI_COMMAND=" + command,
        "CNI_CONTAINERID=" + id,
        "CNI_NETNS=" + netns,
        "CNI_IFNAME=" + ifname,
        "CNI_PATH=" + absl::StrJoin(options_.cni_bin_dirs, ":"),
        absl::StrCat("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=", kNamespace,
                     ";K8S_POD_NAME=floor;K8S_POD_INFRA_CONTAINER_ID=", id,
                     ";K8S_POD_UID=", id)};
    return RunOk({FindPlugin(type)}, env, plugin.dump(), scratch);
  }

  // ADD then DEL of loopback and the conflist's plugins in a fresh netns.
  absl::Status FloorCni(const std::string& dir, int n) {
    absl::StatusOr<json> net = CniConfig(dir);
    if (!net.ok()) return net.status();
    std::string scratch = dir + "/cni";
    json lo = json::object();
    lo["type"] = "loopback";
    json loopback = json::object();
    loopback["cniVersion"] = "0.4.0";
    loopback["name"] = "cni-loopback";
    loopback["plugins"] = json::array({lo});
    StepMs ms;
    std::vector<std::string> order;
    auto add_step = [&](const std::string& s) {
      if (std::find(order.begin(), order.end(), s) == order.end()) {
        order.push_back(s);
      }
    };
    for (int i = 0; i < n; ++i) {
      std::string ns = absl::StrCat("kbfloor-", run_, "-", i);
      std::string id = absl::StrCat("kbfloor", run_, "x", i);
      std::string netns = "/var/run/netns/" + ns;
      absl::StatusOr<std::string> made =
          RunOk({"ip", "netns", "add", ns}, {}, "", scratch);
      if (!made.ok()) return made.status();
      absl::Status status;
      std::vector<std::pair<std::string, double>> took;
      json result;  // the conflist's final ADD result
      auto chain = [&](const std::string& command, const json& conf,
                       const std::string& ifname, json* last) {
        std::vector<json> plugins;
        for (const json& p : conf["plugins"]) plugins.push_back(p);
        if (command == "DEL") std::reverse(plugins.begin(), plugins.end());
        json prev = command == "DEL" ? *last : json();
        for (const json& p : plugins) {
          absl::Time t = absl::Now();
          absl::StatusOr<std::string> out =
              CniCall(command, conf, p, ifname, id, netns, prev, scratch);
          took.emplace_back(absl::StrCat(command, " ", p.value("type", "?")),
                            MsSince(t));
          if (!out.ok()) {
            if (status.ok()) status = out.status();
            continue;  // DEL the rest anyway
          }
          if (command == "ADD") {
            prev = json::parse(*out, nullptr, /*allow_exceptions=*/false);
            if (prev.is_discarded()) prev = json();
          }
        }
        if (command == "ADD") *last = prev;
      };
      json lo_result;
      absl::Time t_add = absl::Now();
      chain("ADD", loopback, "lo", &lo_result);
      if (status.ok()) chain("ADD", *net, "eth0", &result);
      double add = MsSince(t_add);
      absl::Time t_del = absl::Now();
      chain("DEL", *net, "eth0", &result);
      chain("DEL", loopback, "lo", &lo_result);
      double del = MsSince(t_del);
      (void)RunOk({"ip", "netns", "del", ns}, {}, "", scratch);
      if (!status.ok()) return status;
      for (const auto& [step, v] : took) {
        add_step(step);
        ms[step].push_back(v);
      }
      add_step("ADD total");
      add_step("DEL total");
      ms["ADD total"].push_back(add);
      ms["DEL total"].push_back(del);
    }
    // ADDs first, then DELs, each in call order.
    std::stable_partition(order.begin(), order.end(), [](const std::string& s) {
      return absl::StartsWith(s, "ADD");
    });
    PrintFloor(
        absl::StrCat("floor: CNI ", net->value("name", "?"), " (loopback + ",
                     (*net)["plugins"].size(), " plugin(s)), fresh netns each"),
        order, ms);
    return absl::OkStatus();
  }

  static void PrintFloor(const std::string& title,
                         const std::vector<std::string>& steps, StepMs& ms) {
    std::printf("\n== %s: ms\n%-20s %8s %8s %4s\n", title.c_str(), "step",
                "p50", "p90", "n");
    for (const std::string& s : steps) {
      std::vector<double>& v = ms[s];
      if (v.empty()) continue;
      std::sort(v.begin(), v.end());
      std::printf("%-20s %8.1f %8.1f %4zu\n", s.c_str(), Percentile(v, 0.5),
                  Percentile(v, 0.9), v.size());
    }
  }

  const Options options_;
  const std::string run_;
  PodFactory factory_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
};

constexpr char kUsage[] =
    "usage: kubelet_bench --endpoint NAME=unix:///path (repeated; the first is "
    "the baseline) "
    "--image REF\n"
    "         [-n ROUNDS] [--parallel P] [--parallel-rounds R]\n"
    "         [--runtime-handler NAME] [--cgroup-driver cgroupfs|systemd]\n"
    "         [--pid NAME=PID ... --memory-pods N] [--work-dir DIR]\n"
    "         [--floor [--floor-n N] [--floor-source docker://HOST/REPO:TAG |"
    " --mirror HOST:PORT]\n"
    "          [--cni-conf FILE.conflist] [--cni-bin-dir DIR]]\n";

// Parses argv into `o`; an error names the bad argument.
absl::Status ParseFlags(int argc, char** argv, Options* o) {
  bool bin_dirs_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> absl::StatusOr<std::string> {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(arg + " needs a value");
      }
      return std::string(argv[++i]);
    };
    auto number = [&](int* out, int least) -> absl::Status {
      absl::StatusOr<std::string> v = value();
      if (!v.ok()) return v.status();
      if (!absl::SimpleAtoi(*v, out) || *out < least) {
        return absl::InvalidArgumentError(
            absl::StrCat(arg, " needs a number >= ", least));
      }
      return absl::OkStatus();
    };
    auto pair = [&]() -> absl::StatusOr<std::pair<std::string, std::string>> {
      absl::StatusOr<std::string> v = value();
      if (!v.ok()) return v.status();
      std::pair<std::string, std::string> kv =
          absl::StrSplit(*v, absl::MaxSplits('=', 1));
      if (kv.first.empty() || kv.second.empty()) {
        return absl::InvalidArgumentError(arg + " needs NAME=VALUE");
      }
      return kv;
    };
    absl::Status s;
    if (arg == "--endpoint") {
      absl::StatusOr<std::pair<std::string, std::string>> kv = pair();
      if (kv.ok()) o->endpoints.push_back(*kv);
      s = kv.status();
    } else if (arg == "--pid") {
      absl::StatusOr<std::pair<std::string, std::string>> kv = pair();
      s = kv.status();
      int pid = 0;
      if (kv.ok() && (!absl::SimpleAtoi(kv->second, &pid) || pid <= 0)) {
        s = absl::InvalidArgumentError("--pid needs NAME=PID");
      }
      if (s.ok()) o->pids[kv->first] = pid;
    } else if (arg == "--image" || arg == "--runtime-handler" ||
               arg == "--cgroup-driver" || arg == "--work-dir" ||
               arg == "--floor-source" || arg == "--mirror" ||
               arg == "--cni-conf" || arg == "--cni-bin-dir") {
      absl::StatusOr<std::string> v = value();
      s = v.status();
      if (!v.ok()) {
      } else if (arg == "--image") {
        o->image = *v;
      } else if (arg == "--runtime-handler") {
        o->runtime_handler = *v;
      } else if (arg == "--cgroup-driver") {
        o->cgroup_driver = *v;
        if (*v != "cgroupfs" && *v != "systemd") {
          s = absl::InvalidArgumentError(
              "--cgroup-driver: cgroupfs or systemd");
        }
      } else if (arg == "--work-dir") {
        o->work_dir = *v;
      } else if (arg == "--floor-source") {
        o->floor_source = *v;
      } else if (arg == "--mirror") {
        o->mirror = *v;
      } else if (arg == "--cni-conf") {
        o->cni_conf = *v;
      } else {
        if (!bin_dirs_given) o->cni_bin_dirs.clear();
        bin_dirs_given = true;
        o->cni_bin_dirs.push_back(*v);
      }
    } else if (arg == "-n") {
      s = number(&o->n, 0);
    } else if (arg == "--parallel") {
      s = number(&o->parallel, 1);
    } else if (arg == "--parallel-rounds") {
      s = number(&o->parallel_rounds, 0);
    } else if (arg == "--memory-pods") {
      s = number(&o->memory_pods, 0);
    } else if (arg == "--floor-n") {
      s = number(&o->floor_n, 1);
    } else if (arg == "--floor") {
      o->floor = true;
    } else {
      s = absl::InvalidArgumentError("unknown argument " + arg);
    }
    if (!s.ok()) return s;
  }
  if (o->endpoints.empty()) {
    return absl::InvalidArgumentError("--endpoint NAME=TARGET is required");
  }
  if (o->image.empty())
    return absl::InvalidArgumentError("--image is required");
  for (const auto& [name, pid] : o->pids) {
    if (std::none_of(o->endpoints.begin(), o->endpoints.end(),
                     [&](const auto& e) { return e.first == name; })) {
      return absl::InvalidArgumentError("--pid names no endpoint: " + name);
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace cradle::bench

int main(int argc, char** argv) {
  cradle::bench::Options options;
  if (absl::Status s = cradle::bench::ParseFlags(argc, argv, &options);
      !s.ok()) {
    std::cerr << s.message() << "\n" << cradle::bench::kUsage;
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    return cradle::bench::KubeletBench(std::move(options)).Run();
  } catch (const std::exception& e) {
    std::cerr << "kubelet_bench: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "kubelet_bench: unexpected exception\n";
  }
  return 1;
}
