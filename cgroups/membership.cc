#include "cgroups/membership.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "lite/files.h"

namespace cradle {
namespace {

// The directories under which `path` lives: the v2 root, or one per v1
// hierarchy that accounts or limits a process (cpuset is left out: a new
// cpuset cgroup takes no process before its cpus and mems are set; links
// such as cpu -> cpu,cpuacct are skipped: same place).
std::vector<std::string> Hierarchies(const std::string& root) {
  struct statfs st;
  if (statfs(root.c_str(), &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC) {
    return {root};
  }
  std::vector<std::string> out;
  DIR* dir = opendir(root.c_str());
  if (dir == nullptr) return out;
  std::string base = root;
  if (base.empty() || base.back() != '/') base.push_back('/');
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name == "cpuset" || name == "unified")
      continue;
    std::string path = base + name;
    struct stat link;
    if (lstat(path.c_str(), &link) != 0 || !S_ISDIR(link.st_mode)) continue;
    if (statfs(path.c_str(), &st) == 0 && st.f_type == CGROUP_SUPER_MAGIC) {
      out.push_back(path);
    }
  }
  closedir(dir);
  return out;
}

}  // namespace

lite::Status JoinCgroup(const std::string& path, pid_t pid,
                        const std::string& root) {
  std::vector<std::string> hierarchies = Hierarchies(root);
  if (hierarchies.empty()) {
    return lite::FailedPreconditionError(
        lite::StrCat("no cgroup hierarchy under ", root));
  }
  for (const std::string& h : hierarchies) {
    std::string dir = h + path;
    if (int err = lite::MakeDirs(dir); err != 0) {
      return lite::InternalError(
          lite::StrCat("create cgroup ", dir, ": ", strerror(err)));
    }
    std::string text = std::to_string(pid);
    int fd = open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    bool written = fd >= 0 && write(fd, text.data(), text.size()) ==
                                  static_cast<ssize_t>(text.size());
    int err = errno;
    if (fd >= 0) close(fd);
    if (!written) {
      return lite::InternalError(
          lite::StrCat("join cgroup ", dir, ": ", strerror(err)));
    }
  }
  return lite::OkStatus();
}

lite::Status RemoveCgroup(const std::string& path, const std::string& root) {
  for (const std::string& h : Hierarchies(root)) {
    std::string dir = h + path;
    if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
      return errno == EBUSY
                 ? lite::FailedPreconditionError(
                       lite::StrCat("cgroup ", dir, " is still in use"))
                 : lite::InternalError(lite::StrCat("remove cgroup ", dir, ": ",
                                                    strerror(errno)));
    }
  }
  return lite::OkStatus();
}

}  // namespace cradle
