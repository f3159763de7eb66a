// Fuzzes the applier's path handling: how an entry name or hardlink target
// becomes clean components, and that opening the result inside a tree full
// of hostile symlinks never resolves outside it.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "snapshots/apply/paths.h"

namespace {

using cradle::apply_internal::CleanPath;
using cradle::apply_internal::Fd;
using cradle::apply_internal::OpenInRoot;

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
  }
}

char base_dir[] = "/tmp/cradle-path-fuzz-XXXXXX";

// A root whose symlinks all try to leave it, made once.
struct Tree {
  std::string root;
  int fd = -1;
  Tree() {
    char* tmpl = base_dir;
    Check(mkdtemp(tmpl) != nullptr, "mkdtemp");
    atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(base_dir, ec);
    });
    root = std::string(tmpl) + "/root";
    Check(mkdir(root.c_str(), 0700) == 0, "mkdir");
    Check(mkdir((root + "/a").c_str(), 0700) == 0, "mkdir");
    Check(mkdir((root + "/a/b").c_str(), 0700) == 0, "mkdir");
    Check(symlink("/", (root + "/abs").c_str()) == 0, "symlink");
    Check(symlink("/etc", (root + "/etc").c_str()) == 0, "symlink");
    Check(symlink("../../../..", (root + "/a/up").c_str()) == 0, "symlink");
    Check(symlink("/proc/self/cwd", (root + "/cwd").c_str()) == 0, "symlink");
    Check(symlink("loop", (root + "/loop").c_str()) == 0, "symlink");
    Check(symlink(tmpl, (root + "/host").c_str()) == 0, "symlink");
    fd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    Check(fd >= 0, "open root");
    char real[PATH_MAX];
    Check(realpath(root.c_str(), real) != nullptr, "realpath");
    root = real;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Tree* tree = new Tree();
  std::string raw(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  if (!CleanPath(raw.c_str(), &parts)) {
    Check(raw.find("..") != std::string::npos, "refused without \"..\"");
    return 0;
  }
  for (const std::string& p : parts) {
    Check(!p.empty() && p != "." && p != "..", "unclean component");
    Check(p.find('/') == std::string::npos, "slash in a component");
  }
  std::string joined = absl::StrJoin(parts, "/");
  std::vector<std::string> again;
  Check(CleanPath(joined.c_str(), &again) && again == parts,
        "cleaning is not idempotent");
  if (joined.size() > cradle::apply_internal::kMaxPathBytes) return 0;
  // Whatever it resolves to is inside the tree.
  Fd opened(OpenInRoot(tree->fd, joined, O_PATH));
  if (opened.get() < 0) return 0;
  char where[PATH_MAX + 1];
  std::string link = "/proc/self/fd/" + std::to_string(opened.get());
  ssize_t n = readlink(link.c_str(), where, PATH_MAX);
  Check(n > 0, "readlink");
  std::string resolved(where, n);
  Check(resolved == tree->root || absl::StartsWith(resolved, tree->root + "/"),
        "resolved outside the root");
  return 0;
}
