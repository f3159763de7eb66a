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
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"

namespace cradle {
const char* NamespaceProcName(NamespaceKind kind) {
  switch (kind) {
    case NamespaceKind::kNetwork:
      return "net";
    case NamespaceKind::kIpc:
      return "ipc";
    case NamespaceKind::kUts:
      return "uts";
  }
  return "";
}

int NamespaceCloneFlag(NamespaceKind kind) {
  switch (kind) {
    case NamespaceKind::kNetwork:
      return CLONE_NEWNET;
    case NamespaceKind::kIpc:
      return CLONE_NEWIPC;
    case NamespaceKind::kUts:
      return CLONE_NEWUTS;
  }
  return 0;
}

absl::Status PinNamespace(const std::string& from, const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    if (errno == EEXIST)
      return absl::AlreadyExistsError(absl::StrCat(path, " exists"));
    return absl::InternalError(
        absl::StrCat("create ", path, ": ", strerror(errno)));
  }
  close(fd);
  if (mount(from.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    int err = errno;
    unlink(path.c_str());
    return absl::InternalError(
        absl::StrCat("pin ", from, " at ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

absl::Status CreatePinnedNamespace(NamespaceKind kind,
                                   absl::string_view path_view,
                                   absl::string_view hostname) {
  std::string path(path_view);
  const char* name = NamespaceProcName(kind);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(),
                                      ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("create dir for ", path, ": ", ec.message()));
  // Refused before any namespace is made.
  if (access(path.c_str(), F_OK) == 0)
    return absl::AlreadyExistsError(absl::StrCat(path, " exists"));
  // unshare() moves only the calling thread: do it on a throwaway thread so
  // the daemon's own threads stay in the host's namespaces.
  absl::Status status;
  std::thread worker([&] {
    if (unshare(NamespaceCloneFlag(kind)) != 0) {
      status = absl::InternalError(
          absl::StrCat("unshare ", name, " namespace: ", strerror(errno)));
      return;
    }
    if (kind == NamespaceKind::kUts && !hostname.empty() &&
        sethostname(hostname.data(), hostname.size()) != 0) {
      status = absl::InvalidArgumentError(
          absl::StrCat("set hostname \"", hostname, "\": ", strerror(errno)));
      return;
    }
    status = PinNamespace(absl::StrCat("/proc/thread-self/ns/", name), path);
  });
  worker.join();
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
  std::thread worker;
  try {
    worker = std::thread([&] {
      int ns = open(std::string(path).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
        entered = absl::FailedPreconditionError(
            absl::StrCat("cannot enter the network namespace ", path, ": ",
                         strerror(errno)));
        if (ns >= 0) close(ns);
        return;
      }
      close(ns);
      work();
    });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no thread to enter the network namespace ", path, ": ", e.what()));
  }
  worker.join();
  return entered;
}

}  // namespace cradle
