#include "namespaces/pinned.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"

namespace cradle {
namespace {

struct KindInfo {
  int flag;
  const char* proc_name;
};

KindInfo Info(NamespaceKind kind) {
  switch (kind) {
    case NamespaceKind::kNetwork:
      return {CLONE_NEWNET, "net"};
    case NamespaceKind::kIpc:
      return {CLONE_NEWIPC, "ipc"};
    case NamespaceKind::kUts:
      return {CLONE_NEWUTS, "uts"};
  }
  return {0, ""};
}

}  // namespace

absl::Status CreatePinnedNamespace(NamespaceKind kind,
                                   absl::string_view path_view,
                                   absl::string_view hostname) {
  std::string path(path_view);
  KindInfo info = Info(kind);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(),
                                      ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("create dir for ", path, ": ", ec.message()));
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST)
      return absl::AlreadyExistsError(absl::StrCat(path, " exists"));
    return absl::InternalError(
        absl::StrCat("create ", path, ": ", strerror(err)));
  }
  close(fd);
  // unshare() moves only the calling thread: do it on a throwaway thread so
  // the daemon's own threads stay in the host's namespaces.
  absl::Status status;
  std::thread worker([&] {
    if (unshare(info.flag) != 0) {
      status = absl::InternalError(absl::StrCat(
          "unshare ", info.proc_name, " namespace: ", strerror(errno)));
      return;
    }
    if (kind == NamespaceKind::kUts && !hostname.empty() &&
        sethostname(hostname.data(), hostname.size()) != 0) {
      status = absl::InvalidArgumentError(
          absl::StrCat("set hostname \"", hostname, "\": ", strerror(errno)));
      return;
    }
    std::string self = absl::StrCat("/proc/thread-self/ns/", info.proc_name);
    if (mount(self.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      status = absl::InternalError(absl::StrCat("bind ", info.proc_name,
                                                " namespace to ", path, ": ",
                                                strerror(errno)));
    }
  });
  worker.join();
  if (!status.ok()) unlink(path.c_str());
  return status;
}

absl::Status RemovePinnedNamespace(absl::string_view path_view) {
  std::string path(path_view);
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL &&
      errno != ENOENT) {
    return absl::InternalError(
        absl::StrCat("unmount namespace ", path, ": ", strerror(errno)));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(
        absl::StrCat("remove ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

bool IsPinnedNamespace(absl::string_view path) {
  struct statfs fs;
  return statfs(std::string(path).c_str(), &fs) == 0 &&
         static_cast<unsigned long>(fs.f_type) == NSFS_MAGIC;
}

absl::Status RunInNetworkNamespace(absl::string_view path,
                                   const std::function<void()>& work) {
  absl::Status entered;
  std::thread worker([&] {
    int ns = open(std::string(path).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
      entered = absl::FailedPreconditionError(absl::StrCat(
          "cannot enter the network namespace ", path, ": ", strerror(errno)));
      if (ns >= 0) close(ns);
      return;
    }
    close(ns);
    work();
  });
  worker.join();
  return entered;
}

}  // namespace cradle
