#include "cri/runtime/container_mounts.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "mount/clone.h"
#include "mount/mount.h"
#include "namespaces/user.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

// The host path of `sub_path` resolved inside `root`, links included: the
// view is read-only, so the answer cannot change after it is given.
absl::StatusOr<std::string> ResolveInside(const std::string& root,
                                          const std::string& sub_path) {
  int root_fd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    return absl::InternalError(
        absl::StrCat("open ", root, ": ", strerror(errno)));
  }
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  int fd = static_cast<int>(
      syscall(SYS_openat2, root_fd, sub_path.c_str(), &how, sizeof(how)));
  int err = errno;
  // The root as the kernel names it, to compare the answer with.
  char root_buf[PATH_MAX + 1];
  ssize_t root_len = readlink(absl::StrCat("/proc/self/fd/", root_fd).c_str(),
                              root_buf, sizeof(root_buf) - 1);
  close(root_fd);
  if (fd < 0) {
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(
          "image_sub_path \"", sub_path, "\" does not exist in the image"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("image_sub_path \"", sub_path, "\": ", strerror(err)));
  }
  char buf[PATH_MAX + 1];
  ssize_t n = readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), buf,
                       sizeof(buf) - 1);
  close(fd);
  if (n < 0) {
    return absl::InternalError(
        absl::StrCat("resolve image_sub_path: ", strerror(errno)));
  }
  std::string path(buf, n);
  std::string real_root = root_len > 0 ? std::string(root_buf, root_len) : root;
  if (path != real_root && !absl::StartsWith(path, real_root + "/")) {
    return absl::InternalError(absl::StrCat("image_sub_path \"", sub_path,
                                            "\" resolved out of the image"));
  }
  return path;
}

// An empty mount point of the same kind as `source`.
absl::Status MakeMountPoint(const std::string& source,
                            const std::string& target) {
  struct stat st;
  if (stat(source.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("mount source ", source, ": ", strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(target.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::InternalError(
          absl::StrCat("mkdir ", target, ": ", strerror(errno)));
    }
    return absl::OkStatus();
  }
  int fd = open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("create ", target, ": ", strerror(errno)));
  }
  close(fd);
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("create ", dir, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ImageVolumeKey(const std::string& container_id, int index) {
  return absl::StrCat(container_id, "-volume-", index);
}

absl::StatusOr<IdmappedLayers> MountIdmappedLayers(const std::string& store,
                                                   const std::string& copy,
                                                   int userns_fd) {
  if (absl::Status s = MakeDir(copy); !s.ok()) return s;
  CloneOptions options;
  options.userns_fd = userns_fd;
  // Lower layers are only read; read-only, the copy of the whole store can
  // never be written or deleted through.
  options.recursive_readonly = true;
  if (absl::Status s = MountClone(store, copy, options); !s.ok()) return s;
  return IdmappedLayers{store, copy};
}

std::vector<Mount> ThroughIdmappedLayers(const std::vector<Mount>& mounts,
                                         const IdmappedLayers& layers) {
  auto through = [&](absl::string_view path) -> std::string {
    if (path == layers.store) return layers.copy;
    if (absl::StartsWith(path, layers.store + "/"))
      return absl::StrCat(layers.copy, path.substr(layers.store.size()));
    return std::string(path);
  };
  std::vector<Mount> out = mounts;
  for (Mount& m : out) {
    // A read-only bind is a one-layer view; a writable one (the native
    // driver's rootfs) stays: the copy is read-only.
    bool readonly =
        std::find(m.options.begin(), m.options.end(), "ro") != m.options.end();
    if (m.type == "bind" && readonly) m.source = through(m.source);
    for (std::string& option : m.options) {
      absl::string_view value = option;
      if (absl::ConsumePrefix(&value, "lowerdir=")) {
        std::vector<std::string> dirs;
        for (absl::string_view d : absl::StrSplit(value, ':'))
          dirs.push_back(through(d));
        option = absl::StrCat("lowerdir=", absl::StrJoin(dirs, ":"));
      } else if (absl::ConsumePrefix(&value, "cradle.chdir=")) {
        // Relative lower dirs are relative to this one.
        option = absl::StrCat("cradle.chdir=", through(value));
      }
    }
  }
  return out;
}

absl::Status GiveUpperDir(const std::vector<Mount>& mounts, uint32_t uid,
                          uint32_t gid) {
  for (const Mount& m : mounts) {
    for (const std::string& option : m.options) {
      absl::string_view dir = option;
      if (!absl::ConsumePrefix(&dir, "upperdir=")) continue;
      if (lchown(std::string(dir).c_str(), uid, gid) != 0) {
        return absl::InternalError(
            absl::StrCat("chown ", dir, ": ", strerror(errno)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ProbeUserNamespaces(const std::string& scratch_dir) {
  // What a probe killed half way left: its mounts first, then its files.
  std::error_code ec;
  for (auto it = fs::directory_iterator(scratch_dir, ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string stale = it->path().string();
    if (it->path().filename().string().rfind("probe-userns-", 0) != 0) continue;
    (void)UnmountBelow(stale);
    (void)RemoveIfNothingMounted(stale);
  }
  std::string dir = scratch_dir + "/probe-userns-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("mkdtemp in ", scratch_dir, ": ", strerror(errno)));
  }
  absl::Cleanup cleanup = [&] {
    (void)UnmountBelow(dir);
    (void)RemoveIfNothingMounted(dir);
  };
  const std::string store = dir + "/store";
  for (const char* d :
       {"/store/lower", "/store/upper", "/store/work", "/layers", "/merged"}) {
    if (absl::Status s = MakeDir(dir + d); !s.ok()) return s;
  }
  int fd = open((store + "/lower/file").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC,
                0600);
  if (fd < 0) return absl::InternalError("create the probe's file");
  close(fd);
  // A map no real pod uses: the probe never shares a namespace with one.
  constexpr uint32_t kHost = 4000000000u;
  UserNamespaceMaps maps{{{0, kHost, 1}}, {{0, kHost, 1}}};
  if (absl::Status s = CreatePinnedUserNamespace(dir + "/user", maps, {});
      !s.ok()) {
    return s;
  }
  int userns_fd = open((dir + "/user").c_str(), O_RDONLY | O_CLOEXEC);
  if (userns_fd < 0) return absl::InternalError("open the probe's namespace");
  absl::StatusOr<IdmappedLayers> layers =
      MountIdmappedLayers(store, dir + "/layers", userns_fd);
  close(userns_fd);
  if (!layers.ok()) return layers.status();
  std::vector<Mount> overlay = ThroughIdmappedLayers(
      {{"overlay",
        "overlay",
        {"lowerdir=" + store + "/lower", "upperdir=" + store + "/upper",
         "workdir=" + store + "/work"}}},
      *layers);
  if (absl::Status s = GiveUpperDir(overlay, kHost, kHost); !s.ok()) return s;
  if (absl::Status s = MountAll(overlay, dir + "/merged"); !s.ok()) return s;
  struct stat st;
  if (stat((dir + "/merged/file").c_str(), &st) != 0 || st.st_uid != kHost) {
    return absl::FailedPreconditionError(
        "an overlay over an idmapped layer does not show mapped owners");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MountImageVolume(
    Snapshotter& snapshotter, const std::string& key, const std::string& parent,
    const std::string& mounts_dir, int index, const std::string& sub_path,
    const IdmappedLayers* layers) {
  std::string target = absl::StrCat(mounts_dir, "/image-", index);
  if (absl::Status s = MakeDir(target); !s.ok()) return s;
  absl::StatusOr<std::vector<Mount>> mounts = snapshotter.View(key, parent, {});
  if (!mounts.ok()) return mounts.status();
  if (layers) *mounts = ThroughIdmappedLayers(*mounts, *layers);
  if (absl::Status s = MountAll(*mounts, target); !s.ok()) return s;
  if (sub_path.empty()) return target;
  return ResolveInside(target, sub_path);
}

absl::Status PrepareBindSources(spec::ContainerSpecInput& spec,
                                const std::string& mounts_dir, int userns_fd) {
  int n = 0;
  for (spec::BindMount& b : spec.mounts) {
    bool idmap = userns_fd >= 0 && b.idmapped;
    if (!b.recursive_readonly && !idmap) continue;
    if (absl::Status s = MakeDir(mounts_dir); !s.ok()) return s;
    std::string target = absl::StrCat(mounts_dir, "/bind-", n++);
    if (absl::Status s = MakeMountPoint(b.host_path, target); !s.ok()) return s;
    CloneOptions options;
    options.recursive_readonly = b.recursive_readonly;
    options.userns_fd = idmap ? userns_fd : -1;
    if (absl::Status s = MountClone(b.host_path, target, options); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("mount of ", b.container_path,
                                                 ": ", s.message()));
    }
    b.host_path = target;
  }
  return absl::OkStatus();
}

absl::Status ReleaseContainerMounts(Snapshotter& snapshotter,
                                    const CriContainer& container,
                                    const std::string& mounts_dir) {
  if (absl::Status s = UnmountBelow(mounts_dir); !s.ok()) return s;
  for (const CriContainer::ImageVolume& v : container.image_volumes) {
    absl::Status removed = snapshotter.Remove(v.snapshot_key);
    if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  }
  return absl::OkStatus();
}

absl::Status CheckImageUnused(ContainerStore& containers,
                              const std::string& image_id) {
  for (const CriContainer& c : containers.List()) {
    for (const CriContainer::ImageVolume& v : c.image_volumes) {
      if (v.image_id != image_id) continue;
      return absl::FailedPreconditionError(
          absl::StrCat("the image is mounted at ", v.container_path,
                       " of container ", c.id, " (", c.name, ") in pod ",
                       c.pod_id, "; remove that container first"));
    }
  }
  return absl::OkStatus();
}

absl::Status RemoveIfNothingMounted(const std::string& dir) {
  if (std::vector<std::string> left = MountsBelow(dir); !left.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(left.front(), " is still mounted; not removing ", dir));
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("remove ", dir, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace cradle
