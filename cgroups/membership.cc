#include "cgroups/membership.h"

#include <errno.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace cradle {
namespace {

namespace fs = std::filesystem;

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
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
    if (e.is_symlink(ec) || !e.is_directory(ec)) continue;
    std::string name = e.path().filename();
    if (name == "cpuset" || name == "unified") continue;
    if (statfs(e.path().c_str(), &st) == 0 && st.f_type == CGROUP_SUPER_MAGIC) {
      out.push_back(e.path());
    }
  }
  return out;
}

}  // namespace

absl::Status JoinCgroup(const std::string& path, pid_t pid,
                        const std::string& root) {
  std::vector<std::string> hierarchies = Hierarchies(root);
  if (hierarchies.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no cgroup hierarchy under ", root));
  }
  for (const std::string& h : hierarchies) {
    std::string dir = h + path;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("create cgroup ", dir, ": ", ec.message()));
    }
    std::ofstream procs(dir + "/cgroup.procs");
    procs << pid << std::flush;
    if (!procs) {
      return absl::InternalError(
          absl::StrCat("join cgroup ", dir, ": ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status RemoveCgroup(const std::string& path, const std::string& root) {
  for (const std::string& h : Hierarchies(root)) {
    std::string dir = h + path;
    if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
      return errno == EBUSY
                 ? absl::FailedPreconditionError(
                       absl::StrCat("cgroup ", dir, " is still in use"))
                 : absl::InternalError(absl::StrCat("remove cgroup ", dir, ": ",
                                                    strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace cradle
