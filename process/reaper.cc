#include "process/reaper.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

namespace cradle {
namespace {

std::atomic<Reaper*> installed{nullptr};

// Exits nobody claimed (a runc's intermediate process, say) are forgotten
// after this long so the table cannot grow without bound.
constexpr std::chrono::minutes kUnclaimedTtl(5);

}  // namespace

Reaper& Reaper::Install() {
  static Reaper* reaper = [] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    auto* r = new Reaper();
    std::thread([r] { r->Run(); }).detach();
    installed.store(r);
    return r;
  }();
  return *reaper;
}

Reaper* Reaper::Get() { return installed.load(); }

void Reaper::SetListener(
    std::function<bool(pid_t, const ExitStatus&)> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

void Reaper::Run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      // Nothing more to reap now: sleep until the next SIGCHLD (or a
      // second, which covers a signal coalesced before we waited).
      timespec second{1, 0};
      sigtimedwait(&set, nullptr, &second);
      continue;
    }
    ExitStatus exit = ExitStatus::FromWait(status);
    // The listener runs under mu_, so a pid registered with the listener's
    // owner either reaches the listener or is already in exited_ when the
    // owner calls TakeExited: no exit falls between the two.
    std::lock_guard<std::mutex> lock(mu_);
    if (listener_ && listener_(pid, exit)) continue;
    std::chrono::steady_clock::time_point now =
        std::chrono::steady_clock::now();
    for (auto it = exited_.begin(); it != exited_.end();) {
      it = now - it->second.at > kUnclaimedTtl ? exited_.erase(it) : ++it;
    }
    exited_[pid] = {exit, now};
    // Waiters for different pids share the variable: wake them all.
    exited_cv_.notify_all();
  }
}

ExitStatus Reaper::Wait(pid_t pid) {
  std::unique_lock<std::mutex> lock(mu_);
  exited_cv_.wait(lock, [&] { return exited_.count(pid) > 0; });
  ExitStatus status = exited_[pid].status;
  exited_.erase(pid);
  return status;
}

bool Reaper::TakeExited(pid_t pid, ExitStatus* status) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = exited_.find(pid);
  if (it == exited_.end()) return false;
  *status = it->second.status;
  exited_.erase(it);
  return true;
}

}  // namespace cradle
