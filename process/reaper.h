// A process-wide child reaper, for a process that is a child subreaper (the
// shim): orphaned grandchildren are reparented to it and must be reaped by
// someone, so one thread owns every waitpid() and hands exit statuses to
// whoever waits for a pid (WaitFor, once the reaper is installed) or to the
// exit listener.
#ifndef CRADLE_PROCESS_REAPER_H_
#define CRADLE_PROCESS_REAPER_H_

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "process/spawn.h"

namespace cradle {

class Reaper {
 public:
  // Blocks SIGCHLD in the calling thread, which must be the main thread
  // before any other thread starts (threads inherit the mask), and starts
  // the reaping thread. Idempotent.
  static Reaper& Install();
  // The installed reaper, or nullptr.
  static Reaper* Get();

  // Blocks until `pid` has exited and returns its status (once).
  ExitStatus Wait(pid_t pid);
  // Non-blocking: the status when `pid` has already exited.
  bool TakeExited(pid_t pid, ExitStatus* status);
  // Called on the reaping thread for every exit; returning true claims the
  // exit (Wait will not see it). It runs under the reaper's lock: it must be
  // quick and must not call back into the reaper.
  void SetListener(std::function<bool(pid_t, const ExitStatus&)> listener);

 private:
  Reaper() = default;
  void Run();

  std::mutex mu_;
  // Signalled whenever an exit lands in exited_.
  std::condition_variable exited_cv_;
  std::function<bool(pid_t, const ExitStatus&)> listener_;  // guarded by mu_
  struct Exited {
    ExitStatus status;
    std::chrono::steady_clock::time_point at;
  };
  std::map<pid_t, Exited> exited_;  // guarded by mu_
};

}  // namespace cradle

#endif  // CRADLE_PROCESS_REAPER_H_
