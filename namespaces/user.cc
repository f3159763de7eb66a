#include "namespaces/user.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cradle {
namespace {

constexpr uint64_t kIdLimit = uint64_t{1} << 32;

absl::Status CheckList(const char* what, const std::vector<IdRange>& ranges) {
  if (ranges.empty())
    return absl::InvalidArgumentError(absl::StrCat("no ", what, " mappings"));
  if (ranges.size() > 340) {
    return absl::InvalidArgumentError(absl::StrCat(
        ranges.size(), " ", what, " mappings; the kernel takes 340"));
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    const IdRange& r = ranges[i];
    if (r.size == 0 || r.inside + uint64_t{r.size} > kIdLimit ||
        r.host + uint64_t{r.size} > kIdLimit) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " mapping ", r.inside, " -> ", r.host, " (",
                       r.size, " ids) is empty or runs past 4294967295"));
    }
    // Host root's files would be the pod's own: no namespace then.
    if (r.host == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " mapping ", r.inside,
                       " -> 0 maps host root into the pod; give the pod a "
                       "range of its own (the kubelet's start at 65536)"));
    }
    for (size_t j = 0; j < i; ++j) {
      const IdRange& o = ranges[j];
      auto overlap = [](uint64_t a, uint64_t b, uint64_t size_a,
                        uint64_t size_b) {
        return a < b + size_b && b < a + size_a;
      };
      if (overlap(r.inside, o.inside, r.size, o.size) ||
          overlap(r.host, o.host, r.size, o.size)) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " mappings starting at ", o.inside, " and ",
                         r.inside, " overlap"));
      }
    }
  }
  return absl::OkStatus();
}

// The child's side of the handshake. Only async-signal-safe calls: the
// daemon forks with other threads running. Reports a failed step as its
// errno on `report` and exits.
[[noreturn]] void Child(int report, int go, int flags, const char* hostname,
                        size_t hostname_len) {
  auto fail = [&](int step) {
    int msg[2] = {step, errno};
    (void)!write(report, msg, sizeof(msg));
    _exit(1);
  };
  char byte;
  if (unshare(CLONE_NEWUSER) != 0) fail(1);
  int ok[2] = {0, 0};
  if (write(report, ok, sizeof(ok)) != sizeof(ok)) _exit(1);
  // The parent writes the maps; after that this process holds every
  // capability inside the new namespace, and what it unshares is owned
  // by it.
  if (read(go, &byte, 1) != 1) _exit(1);
  if (flags != 0 && unshare(flags) != 0) fail(2);
  if (hostname_len > 0 && sethostname(hostname, hostname_len) != 0) fail(3);
  if (write(report, ok, sizeof(ok)) != sizeof(ok)) _exit(1);
  (void)!read(go, &byte, 1);  // until the parent has pinned everything
  _exit(0);
}

absl::Status ReadStep(int fd, const char* what) {
  int msg[2];
  ssize_t n = read(fd, msg, sizeof(msg));
  if (n != sizeof(msg))
    return absl::InternalError(absl::StrCat(what, ": the helper died"));
  if (msg[0] != 0) {
    return absl::InternalError(
        absl::StrCat(what, " (step ", msg[0], "): ", strerror(msg[1])));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckMaps(const UserNamespaceMaps& maps) {
  if (absl::Status s = CheckList("uid", maps.uids); !s.ok()) return s;
  return CheckList("gid", maps.gids);
}

std::string MapText(const std::vector<IdRange>& ranges) {
  std::string text;
  for (const IdRange& r : ranges)
    absl::StrAppend(&text, r.inside, " ", r.host, " ", r.size, "\n");
  return text;
}

std::optional<std::vector<IdRange>> ParseMapText(absl::string_view text) {
  std::vector<IdRange> ranges;
  for (absl::string_view line :
       absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> words =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    IdRange r;
    if (words.size() != 3 || !absl::SimpleAtoi(words[0], &r.inside) ||
        !absl::SimpleAtoi(words[1], &r.host) ||
        !absl::SimpleAtoi(words[2], &r.size)) {
      return std::nullopt;
    }
    ranges.push_back(r);
  }
  return ranges;
}

std::optional<uint32_t> HostId(const std::vector<IdRange>& ranges,
                               uint32_t inside) {
  for (const IdRange& r : ranges) {
    if (inside >= r.inside && uint64_t{inside} < uint64_t{r.inside} + r.size)
      return r.host + (inside - r.inside);
  }
  return std::nullopt;
}

std::optional<uint32_t> InsideId(const std::vector<IdRange>& ranges,
                                 uint32_t host) {
  for (const IdRange& r : ranges) {
    if (host >= r.host && uint64_t{host} < uint64_t{r.host} + r.size)
      return r.inside + (host - r.host);
  }
  return std::nullopt;
}

absl::Status CreatePinnedUserNamespace(
    absl::string_view user_path_view, const UserNamespaceMaps& maps,
    const std::vector<std::pair<NamespaceKind, std::string>>& owned,
    absl::string_view hostname_view) {
  if (absl::Status s = CheckMaps(maps); !s.ok()) return s;
  std::string user_path(user_path_view), hostname(hostname_view);
  std::error_code ec;
  std::filesystem::create_directories(
      std::filesystem::path(user_path).parent_path(), ec);
  int flags = 0;
  bool uts = false;
  for (const auto& [kind, path] : owned) {
    flags |= NamespaceCloneFlag(kind);
    uts |= kind == NamespaceKind::kUts;
  }
  int report[2], go[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  if (pipe2(go, O_CLOEXEC) != 0) {
    close(report[0]);
    close(report[1]);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(report[0]);
    close(go[1]);
    Child(report[1], go[0], flags, hostname.c_str(), uts ? hostname.size() : 0);
  }
  close(report[1]);
  close(go[0]);
  std::vector<std::string> pinned;
  absl::Status status;
  auto step = [&](absl::Status s) {
    if (status.ok()) status = s;
    return status.ok();
  };
  if (pid < 0) {
    status = absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  } else if (step(ReadStep(report[0], "create a user namespace"))) {
    // As root in our own namespace we may write any maps, setgroups
    // allowed: containers call setgroups() for their groups.
    std::string proc = absl::StrCat("/proc/", pid);
    for (const auto& [file, ranges] :
         {std::pair<const char*, const std::vector<IdRange>*>{"uid_map",
                                                              &maps.uids},
          {"gid_map", &maps.gids}}) {
      // The kernel takes a map in one write() only.
      std::string text = MapText(*ranges);
      int fd =
          open(absl::StrCat(proc, "/", file).c_str(), O_WRONLY | O_CLOEXEC);
      bool written = fd >= 0 && write(fd, text.data(), text.size()) ==
                                    static_cast<ssize_t>(text.size());
      int err = errno;
      if (fd >= 0) close(fd);
      if (!written) {
        step(absl::InvalidArgumentError(
            absl::StrCat("write ", file, " \"", text, "\": ", strerror(err))));
        break;
      }
    }
    if (status.ok() && write(go[1], "g", 1) != 1)
      step(absl::InternalError("create the pod's namespaces: the helper died"));
    if (status.ok() &&
        step(ReadStep(report[0], "create the pod's namespaces"))) {
      if (step(PinNamespace(proc + "/ns/user", user_path)))
        pinned.push_back(user_path);
      for (const auto& [kind, path] : owned) {
        if (!status.ok()) break;
        if (step(PinNamespace(
                absl::StrCat(proc, "/ns/", NamespaceProcName(kind)), path)))
          pinned.push_back(path);
      }
    }
  }
  close(go[1]);  // the child exits
  close(report[0]);
  if (pid > 0) {
    kill(pid, SIGKILL);  // in case it still waits on a step that failed
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (!status.ok()) {
    for (const std::string& p : pinned) (void)RemovePinnedNamespace(p);
  }
  return status;
}

}  // namespace cradle
