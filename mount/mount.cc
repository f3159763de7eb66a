#include "mount/mount.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cradle {
namespace {

struct Parsed {
  unsigned long flags = 0;
  unsigned long propagation = 0;
  std::vector<std::string> data;
};

Parsed ParseOptions(const std::vector<std::string>& options) {
  Parsed p;
  for (const std::string& o : options) {
    if (o == "ro")
      p.flags |= MS_RDONLY;
    else if (o == "rw")
      p.flags &= ~MS_RDONLY;
    else if (o == "bind")
      p.flags |= MS_BIND;
    else if (o == "rbind")
      p.flags |= MS_BIND | MS_REC;
    else if (o == "nosuid")
      p.flags |= MS_NOSUID;
    else if (o == "nodev")
      p.flags |= MS_NODEV;
    else if (o == "noexec")
      p.flags |= MS_NOEXEC;
    else if (o == "rprivate")
      p.propagation = MS_PRIVATE | MS_REC;
    else if (o == "private")
      p.propagation = MS_PRIVATE;
    else
      p.data.push_back(o);
  }
  return p;
}

}  // namespace

absl::Status MountAll(const std::vector<Mount>& mounts,
                      absl::string_view target_view) {
  std::string target(target_view);
  for (size_t i = 0; i < mounts.size(); ++i) {
    const Mount& m = mounts[i];
    Parsed p = ParseOptions(m.options);
    std::string data = absl::StrJoin(p.data, ",");
    if (data.size() >= 4096) {
      (void)UnmountAll(target);
      return absl::InvalidArgumentError(
          absl::StrCat("mount options for ", target, " exceed one page (",
                       data.size(), " bytes)"));
    }
    const char* type = m.type == "bind" ? nullptr : m.type.c_str();
    if (m.type == "bind") p.flags |= MS_BIND;
    if (mount(m.source.c_str(), target.c_str(), type, p.flags & ~MS_RDONLY,
              data.empty() ? nullptr : data.c_str()) != 0) {
      int err = errno;
      (void)UnmountAll(target);
      return absl::InternalError(absl::StrCat("mount ", m.type, " ", m.source,
                                              " on ", target, ": ",
                                              strerror(err)));
    }
    // A bind mount takes "ro" only on a remount.
    if ((p.flags & MS_RDONLY) &&
        mount(nullptr, target.c_str(), nullptr,
              MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0 &&
        m.type == "bind") {
      int err = errno;
      (void)UnmountAll(target);
      return absl::InternalError(
          absl::StrCat("remount ", target, " read-only: ", strerror(err)));
    }
    if (p.propagation &&
        mount(nullptr, target.c_str(), nullptr, p.propagation, nullptr) != 0) {
      int err = errno;
      (void)UnmountAll(target);
      return absl::InternalError(
          absl::StrCat("set propagation of ", target, ": ", strerror(err)));
    }
  }
  return absl::OkStatus();
}

absl::Status UnmountAll(absl::string_view target_view) {
  std::string target(target_view);
  for (int i = 0; i < 64; ++i) {
    if (umount2(target.c_str(), 0) == 0) continue;
    if (errno == EINVAL || errno == ENOENT)
      return absl::OkStatus();  // nothing mounted
    if (errno == EBUSY && umount2(target.c_str(), MNT_DETACH) == 0) continue;
    return absl::InternalError(
        absl::StrCat("unmount ", target, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace cradle
