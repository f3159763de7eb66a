#include "mount/mount.h"

#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace cradle {
namespace {

// Mount options that are flags, not data.
const std::map<std::string, unsigned long>& FlagOptions() {
  static const auto* flags = new std::map<std::string, unsigned long>{
      {"ro", MS_RDONLY},     {"bind", MS_BIND},   {"rbind", MS_BIND | MS_REC},
      {"nosuid", MS_NOSUID}, {"nodev", MS_NODEV}, {"noexec", MS_NOEXEC},
  };
  return *flags;
}

// cradle's own option: relative paths in the data are relative to this dir
// (long overlay lowerdir chains; see snapshots/local).
constexpr char kChdirOption[] = "cradle.chdir=";

struct Parsed {
  unsigned long flags = 0;
  unsigned long propagation = 0;
  std::vector<std::string> data;
  std::string chdir;
};

Parsed ParseOptions(const std::vector<std::string>& options) {
  Parsed p;
  for (const std::string& o : options) {
    if (auto it = FlagOptions().find(o); it != FlagOptions().end()) {
      p.flags |= it->second;
    } else if (o == "rw") {
      p.flags &= ~MS_RDONLY;
    } else if (o == "rprivate") {
      p.propagation = MS_PRIVATE | MS_REC;
    } else if (o == "private") {
      p.propagation = MS_PRIVATE;
    } else if (o.rfind(kChdirOption, 0) == 0) {
      p.chdir = o.substr(sizeof(kChdirOption) - 1);
    } else {
      p.data.push_back(o);
    }
  }
  return p;
}

// mount(2) from inside `dir`. chdir is per process, so a forked child does
// it; the child shares our mount namespace, so the mount is ours. Returns an
// errno, 0 on success.
int MountFrom(const std::string& dir, const char* source, const char* target,
              const char* type, unsigned long flags, const char* data) {
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(errno);
    _exit(mount(source, target, type, flags, data) == 0 ? 0 : errno);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

}  // namespace

absl::Status MountAll(const std::vector<Mount>& mounts,
                      absl::string_view target_view) {
  std::string target(target_view);
  for (const Mount& m : mounts) {
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
    const char* data_ptr = data.empty() ? nullptr : data.c_str();
    int err = 0;
    if (!p.chdir.empty()) {
      err = MountFrom(p.chdir, m.source.c_str(), target.c_str(), type,
                      p.flags & ~MS_RDONLY, data_ptr);
    } else if (mount(m.source.c_str(), target.c_str(), type,
                     p.flags & ~MS_RDONLY, data_ptr) != 0) {
      err = errno;
    }
    if (err != 0) {
      (void)UnmountAll(target);
      return absl::InternalError(absl::StrCat("mount ", m.type, " ", m.source,
                                              " on ", target, ": ",
                                              strerror(err)));
    }
    // A bind mount takes "ro" only on a remount.
    if ((p.flags & MS_RDONLY) && m.type == "bind" &&
        mount(nullptr, target.c_str(), nullptr,
              MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      int e = errno;
      (void)UnmountAll(target);
      return absl::InternalError(
          absl::StrCat("remount ", target, " read-only: ", strerror(e)));
    }
    if (p.propagation &&
        mount(nullptr, target.c_str(), nullptr, p.propagation, nullptr) != 0) {
      int e = errno;
      (void)UnmountAll(target);
      return absl::InternalError(
          absl::StrCat("set propagation of ", target, ": ", strerror(e)));
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

namespace {

// A mountinfo field with its octal escapes (\040 for a space) undone.
std::string Unescaped(absl::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    bool escape = field[i] == '\\' && i + 3 < field.size() &&
                  std::all_of(field.begin() + i + 1, field.begin() + i + 4,
                              [](char c) { return c >= '0' && c <= '7'; });
    if (!escape) {
      out.push_back(field[i]);
      continue;
    }
    out.push_back(static_cast<char>((field[i + 1] - '0') * 64 +
                                    (field[i + 2] - '0') * 8 +
                                    (field[i + 3] - '0')));
    i += 3;
  }
  return out;
}

}  // namespace

std::vector<std::string> MountsBelow(absl::string_view dir_view) {
  std::string dir(dir_view);
  // mountinfo has the real path: a link or "//" in `dir` would match
  // nothing, and a removal would then walk into what is mounted there.
  char real[PATH_MAX];
  if (realpath(dir.c_str(), real) != nullptr) dir = real;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::vector<std::string> found;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    // Field 5 is the mount point.
    if (fields.size() <= 4) continue;
    std::string point = Unescaped(fields[4]);
    if (point == dir || absl::StartsWith(point, dir + "/"))
      found.push_back(point);
  }
  return found;
}

absl::Status UnmountBelow(absl::string_view dir) {
  std::vector<std::string> targets = MountsBelow(dir);
  std::sort(targets.begin(), targets.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  absl::Status first;
  for (const std::string& t : targets) {
    absl::Status s = UnmountAll(t);
    if (first.ok()) first = s;
  }
  return first;
}

}  // namespace cradle
