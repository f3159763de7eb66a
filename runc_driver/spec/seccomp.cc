#include "runc_driver/spec/seccomp.h"

#include <seccomp.h>

#include <algorithm>

namespace cradle::spec {
namespace {

// System calls any ordinary process may make. Not io_uring: its requests
// run without passing this filter (containerd's default leaves it out too).
// Not pidfd_getfd: taking another process's fds is CAP_SYS_PTRACE's.
constexpr const char* kAllowed[] = {
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_adjtime",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "send",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "socket",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
};

// Calls a capability makes legitimate.
struct CapabilityCalls {
  const char* capability;
  std::vector<const char*> calls;
};

const std::vector<CapabilityCalls>& CapabilityGated() {
  static const auto* gated = new std::vector<CapabilityCalls>{
      {"CAP_SYS_ADMIN", {"bpf",           "clone",           "clone3",
                         "fanotify_init", "fsconfig",        "fsmount",
                         "fsopen",        "fspick",          "lookup_dcookie",
                         "mount",         "mount_setattr",   "move_mount",
                         "open_tree",     "perf_event_open", "quotactl",
                         "quotactl_fd",   "setdomainname",   "sethostname",
                         "setns",         "syslog",          "umount",
                         "umount2",       "unshare"}},
      {"CAP_SYS_BOOT", {"reboot"}},
      {"CAP_SYS_CHROOT", {"chroot"}},
      {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
      {"CAP_SYS_PACCT", {"acct"}},
      {"CAP_SYS_PTRACE",
       {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
        "process_vm_writev", "ptrace"}},
      {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
      {"CAP_SYS_TIME",
       {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
      {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
      {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy"}},
      {"CAP_SYSLOG", {"syslog"}},
  };
  return *gated;
}

bool Known(const char* name) {
  return seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR;
}

nlohmann::json Rule(const std::vector<std::string>& names, const char* action) {
  return {{"names", names}, {"action", action}};
}

}  // namespace

nlohmann::json RuntimeDefaultSeccomp(
    const std::vector<std::string>& capabilities) {
  auto has = [&](const char* cap) {
    return std::find(capabilities.begin(), capabilities.end(), cap) !=
           capabilities.end();
  };
  std::vector<std::string> allowed;
  for (const char* name : kAllowed) {
    if (Known(name)) allowed.push_back(name);
  }
  bool sys_admin = has("CAP_SYS_ADMIN");
  for (const CapabilityCalls& gated : CapabilityGated()) {
    if (!has(gated.capability)) continue;
    for (const char* name : gated.calls) {
      if (Known(name)) allowed.push_back(name);
    }
  }
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());

  nlohmann::json syscalls = nlohmann::json::array();
  syscalls.push_back(Rule(allowed, "SCMP_ACT_ALLOW"));
  // personality: only the harmless personas (linux, and with the flags that
  // glibc and older tools set).
  for (uint64_t persona :
       {0x0ull, 0x8ull, 0x20000ull, 0x20008ull, 0xffffffffull}) {
    syscalls.push_back(
        {{"names", {"personality"}},
         {"action", "SCMP_ACT_ALLOW"},
         {"args",
          {{{"index", 0}, {"value", persona}, {"op", "SCMP_CMP_EQ"}}}}});
  }
  if (!sys_admin) {
    // clone without namespace flags is how threads and fork work.
    constexpr uint64_t kNamespaceFlags =
        0x7E020000;  // CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET}
    syscalls.push_back({{"names", {"clone"}},
                        {"action", "SCMP_ACT_ALLOW"},
                        {"args",
                         {{{"index", 0},
                           {"value", kNamespaceFlags},
                           {"valueTwo", 0},
                           {"op", "SCMP_CMP_MASKED_EQ"}}}}});
    // clone3 hides its flags in memory seccomp cannot read: ENOSYS makes
    // libc fall back to clone.
    if (Known("clone3")) {
      syscalls.push_back({{"names", {"clone3"}},
                          {"action", "SCMP_ACT_ERRNO"},
                          {"errnoRet", 38}});
    }
  }
  return {
      {"defaultAction", "SCMP_ACT_ERRNO"},
      {"defaultErrnoRet", 1},
      {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
      {"syscalls", syscalls},
  };
}

}  // namespace cradle::spec
