#include "snapshots/apply/paths.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace cradle::apply_internal {

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

int OpenInRoot(int root_fd, const std::string& path, int flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return static_cast<int>(syscall(SYS_openat2, root_fd,
                                  path.empty() ? "." : path.c_str(), &how,
                                  sizeof(how)));
}

bool CleanPath(const char* raw, std::vector<std::string>* parts) {
  parts->clear();
  for (absl::string_view c : absl::StrSplit(raw ? raw : "", '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") return false;
    parts->emplace_back(c);
  }
  return true;
}

}  // namespace cradle::apply_internal
