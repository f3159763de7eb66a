// cradle-shim: one per pod. Started by cradled, it daemonizes, becomes the
// child subreaper of the pod's containers and serves shim/api/shim.proto on
// a unix socket until cradled asks it to exit. It outlives cradled, so a
// restarted daemon finds every container still running.
//
//   cradle-shim --socket PATH --state-dir DIR --runc-root DIR
//               [--runc BINARY] [--systemd-cgroup] [--ready-fd N]
//               [--cgroup PATH]
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "cgroups/membership.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "process/reaper.h"
#include "runc_driver/runc.h"
#include "shim/service.h"

namespace {

struct Flags {
  std::string socket, state_dir, runc_root, runc = "runc";
  std::string cgroup;  // joined at start, so the pod pays for its shim
  bool systemd_cgroup = false;
  int ready_fd = -1;
};

bool Parse(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string fd;
    if (a == "--socket"           ? !value(&f->socket)
        : a == "--state-dir"      ? !value(&f->state_dir)
        : a == "--runc-root"      ? !value(&f->runc_root)
        : a == "--runc"           ? !value(&f->runc)
        : a == "--ready-fd"       ? !value(&fd)
        : a == "--cgroup"         ? !value(&f->cgroup)
        : a == "--systemd-cgroup" ? (f->systemd_cgroup = true, false)
                                  : true) {
      return false;
    }
    if (!fd.empty()) f->ready_fd = atoi(fd.c_str());
  }
  return !f->socket.empty() && !f->state_dir.empty() && !f->runc_root.empty();
}

// Tells the daemon we are serving (an empty message) or why not, then
// closes the pipe so the daemon's read ends.
void Report(int fd, const std::string& error) {
  if (fd < 0) return;
  std::string msg = error.empty() ? "ok" : error;
  (void)!write(fd, msg.data(), msg.size());
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!Parse(argc, argv, &flags)) {
    fprintf(stderr,
            "usage: cradle-shim --socket PATH --state-dir DIR --runc-root DIR "
            "[--runc BINARY] [--systemd-cgroup] [--ready-fd N] "
            "[--cgroup PATH]\n");
    return 2;
  }
  // Daemonize: the daemon reaps this first process at once; the second
  // one lives on under init, in a session of its own.
  pid_t child = fork();
  if (child < 0) {
    Report(flags.ready_fd, absl::StrCat("fork: ", strerror(errno)));
    return 1;
  }
  if (child > 0) _exit(0);
  setsid();
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Before any thread exists: the reaper owns SIGCHLD.
  cradle::Reaper& reaper = cradle::Reaper::Install();

  FLAGS_logtostderr = true;
  google::InitGoogleLogging("cradle-shim");
  if (!flags.cgroup.empty()) {
    // Not fatal: the shim works anywhere, it is only accounted elsewhere.
    if (absl::Status s = cradle::JoinCgroup(flags.cgroup, getpid()); !s.ok()) {
      LOG(WARNING) << "shim stays in its parent's cgroup: " << s.message();
    }
  }
  mkdir(flags.state_dir.c_str(), 0700);
  mkdir(flags.runc_root.c_str(), 0700);
  std::string runc_logs = flags.state_dir + "/runc-logs";
  mkdir(runc_logs.c_str(), 0700);

  absl::StatusOr<std::unique_ptr<cradle::Runc>> runc = cradle::Runc::New(
      {flags.runc, flags.runc_root, runc_logs, flags.systemd_cgroup});
  if (!runc.ok()) {
    Report(flags.ready_fd, std::string(runc.status().message()));
    return 1;
  }
  cradle::shim::ShimService service(runc->get(), flags.state_dir);
  reaper.SetListener([&service](pid_t pid, const cradle::ExitStatus& s) {
    return service.OnExit(pid, s);
  });

  unlink(flags.socket.c_str());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + flags.socket,
                           grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    Report(flags.ready_fd, "cannot listen on " + flags.socket);
    return 1;
  }
  chmod(flags.socket.c_str(), 0600);
  LOG(INFO) << "shim " << getpid() << " serving on " << flags.socket;
  Report(flags.ready_fd, "");

  service.shutdown().WaitForNotification();
  LOG(INFO) << "shim " << getpid() << " exiting: the daemon asked";
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  unlink(flags.socket.c_str());
  return 0;
}
