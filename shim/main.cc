// cradle-shim: one per pod. Started by cradled, it daemonizes, becomes the
// child subreaper of the pod's containers and serves shim/api/protocol.h on
// a unix socket until cradled asks it to exit. It outlives cradled, so a
// restarted daemon finds every container still running.
//
//   cradle-shim --socket PATH --state-dir DIR --runc-root DIR
//               [--runc BINARY] [--systemd-cgroup] [--ready-fd N]
//               [--cgroup PATH]
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cgroups/membership.h"
#include "lite/status.h"
#include "process/reaper.h"
#include "runc_driver/runc.h"
#include "shim/log.h"
#include "shim/server.h"
#include "shim/service.h"

namespace {

using cradle::lite::StrCat;

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

// Tells the daemon we are serving ("ok") or why not, then closes the pipe
// so the daemon's read ends.
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
    Report(flags.ready_fd, StrCat("fork: ", strerror(errno)));
    return 1;
  }
  if (child > 0) _exit(0);
  setsid();
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // The shim's records and the containers' logs are root's alone; runc
  // gets 022 back through SpawnOptions::umask.
  umask(077);
  // One malloc arena: a thread per call would otherwise grow an arena per
  // core, each with pages of its own.
  mallopt(M_ARENA_MAX, 1);
  // A client that vanishes mid-write is an error return, not a signal.
  signal(SIGPIPE, SIG_IGN);
  // Before any thread exists: the reaper owns SIGCHLD.
  cradle::Reaper& reaper = cradle::Reaper::Install();

  if (!flags.cgroup.empty()) {
    // Not fatal: the shim works anywhere, it is only accounted elsewhere.
    if (cradle::lite::Status s = cradle::JoinCgroup(flags.cgroup, getpid());
        !s.ok()) {
      cradle::shim::LogWarning("shim stays in its parent's cgroup: " +
                               s.message());
    }
  }
  mkdir(flags.state_dir.c_str(), 0700);
  mkdir(flags.runc_root.c_str(), 0700);
  std::string runc_logs = flags.state_dir + "/runc-logs";
  mkdir(runc_logs.c_str(), 0700);

  cradle::RuncOptions runc_options;
  runc_options.binary = flags.runc;
  runc_options.root = flags.runc_root;
  runc_options.log_dir = runc_logs;
  runc_options.systemd_cgroup = flags.systemd_cgroup;
  cradle::lite::StatusOr<std::unique_ptr<cradle::Runc>> runc =
      cradle::Runc::New(runc_options);
  if (!runc.ok()) {
    Report(flags.ready_fd, runc.status().message());
    return 1;
  }
  cradle::shim::ShimService service(runc->get(), flags.state_dir);
  reaper.SetListener([&service](pid_t pid, const cradle::ExitStatus& s) {
    return service.OnExit(pid, s);
  });

  cradle::lite::StatusOr<std::unique_ptr<cradle::shim::ShimServer>> server =
      cradle::shim::ShimServer::Listen(flags.socket, &service);
  if (!server.ok()) {
    Report(flags.ready_fd, server.status().message());
    return 1;
  }
  cradle::shim::LogInfo(
      StrCat("shim ", getpid(), " serving on ", flags.socket));
  Report(flags.ready_fd, "");

  (*server)->Serve();
  cradle::shim::LogInfo(
      StrCat("shim ", getpid(), " exiting: the daemon asked"));
  server->reset();  // removes the socket
  // Threads still carrying calls end with the process.
  _exit(0);
}
