#include "e2e/harness/registry.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lite/files.h"
#include "process/process.h"

namespace cradle::e2e {
namespace {

namespace fs = std::filesystem;

}  // namespace

std::string Runfile(const std::string& path) {
  if (access(path.c_str(), F_OK) == 0) return fs::absolute(path).string();
  const char* srcdir = getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir ? srcdir : ".", "/cradle/", path);
}

absl::StatusOr<int> FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError("bind to a free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

absl::StatusOr<std::unique_ptr<Registry>> Registry::Start(
    RegistryOptions options) {
  std::unique_ptr<Registry> r(new Registry());
  char tmpl[] = "/tmp/cradle-registry-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp");
  r->dir_ = tmpl;
  absl::StatusOr<int> port = FreePort();
  if (!port.ok()) return port.status();
  r->host_ = absl::StrCat("127.0.0.1:", *port);
  std::string config = absl::StrCat(
      "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n",
      "    rootdirectory: ", r->dir_, "/data\n  delete:\n",
      "    enabled: true\nhttp:\n  addr: ", r->host_, "\n");
  if (!options.username.empty()) {
    absl::StatusOr<RunResult> hash = RunAndCapture(
        SpawnOptions{{"htpasswd", "-Bbn", options.username, options.password}});
    if (!hash.ok() || !hash->status.ok()) {
      return absl::FailedPreconditionError("htpasswd (apache2-utils) failed");
    }
    std::ofstream(r->dir_ + "/htpasswd")
        << absl::StripAsciiWhitespace(hash->out) << "\n";
    absl::StrAppend(&config,
                    "auth:\n  htpasswd:\n    realm: cradle-test\n    path: ",
                    r->dir_, "/htpasswd\n");
  }
  std::ofstream(r->dir_ + "/config.yml") << config;
  SpawnOptions spawn;
  spawn.argv = {"docker-registry", "serve", r->dir_ + "/config.yml"};
  spawn.parent_death_signal = SIGKILL;
  absl::StatusOr<pid_t> pid = Spawn(spawn);
  if (!pid.ok()) return pid.status();
  r->pid_ = *pid;
  // Ready when /v2/ answers: 200 without auth, 401 with.
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<RunResult> probe = RunAndCapture(
        SpawnOptions{{"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                      "http://" + r->host_ + "/v2/"}});
    if (probe.ok() && (probe->out == "200" || probe->out == "401")) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError("docker-registry did not come up on " +
                                     r->host_);
}

Registry::~Registry() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

absl::StatusOr<TestImages> PushTestImages(const Registry& registry,
                                          const std::string& credentials,
                                          int big_mb) {
  std::string out = registry.dir() + "/images";
  SpawnOptions spawn;
  spawn.argv = {"bash", Runfile("e2e/images/build-images.sh"), out,
                Runfile("cmd/pause/pause"), registry.host()};
  const char* path = getenv("PATH");
  spawn.env = std::vector<std::string>{
      std::string("PATH=") + (path ? path : "/usr/bin:/bin"), "HOME=/root"};
  if (!credentials.empty()) spawn.env->push_back("DEST_CREDS=" + credentials);
  if (big_mb > 0) spawn.env->push_back(absl::StrCat("BIG_MB=", big_mb));
  absl::StatusOr<RunResult> run = RunAndCapture(spawn, "", absl::Minutes(5));
  if (!run.ok()) return run.status();
  if (!run->status.ok()) {
    return absl::InternalError(absl::StrCat("build-images.sh failed (",
                                            run->status.ToString(), "):\n",
                                            run->out, run->err));
  }
  TestImages images;
  images.registry = registry.host();
  for (const auto& entry : fs::directory_iterator(out + "/digests")) {
    images.digests[entry.path().filename().string()] =
        std::string(absl::StripAsciiWhitespace(
            lite::ReadFileOrEmpty(entry.path().string())));
  }
  return images;
}

}  // namespace cradle::e2e
