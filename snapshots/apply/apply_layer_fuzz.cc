// Fuzzes the whole applier: the input is a layer (tar, maybe compressed),
// applied on top of a lower layer of awkward files (a FIFO, a device node,
// a sparse file, symlinks out). Whatever the layer holds, nothing outside
// the target directory changes and the apply returns (no hang, no crash).
//
// The process works in a fresh directory BASE (its cwd). A seed reaches the
// canary BASE/outside/canary by "..", or by absolute symlinks: the lower
// layer's "out" points at BASE/outside.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "snapshots/apply/apply.h"

namespace {

namespace fs = std::filesystem;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    fprintf(stderr, "invariant broken: %s\n", what.c_str());
    abort();
  }
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every path below `dir` with its type and size: what must not change.
std::set<std::string> Listing(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::end(it); it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) != 0) continue;
    out.insert(it->path().string() + " " + std::to_string(st.st_mode) + " " +
               std::to_string(st.st_size) + " " + std::to_string(st.st_nlink));
  }
  return out;
}

std::string* removed_at_exit = nullptr;

struct Base {
  std::string dir;
  std::set<std::string> outside, lower;
  Base() {
    char tmpl[] = "/tmp/cradle-apply-fuzz-XXXXXX";
    Check(mkdtemp(tmpl) != nullptr, "mkdtemp");
    dir = tmpl;
    Check(chdir(dir.c_str()) == 0, "chdir");
    fs::create_directories("outside/dir");
    std::ofstream("outside/canary") << "untouched";
    fs::create_directories("lower/d");
    std::ofstream("lower/d/file") << "lower data";
    Check(mkfifo("lower/fifo", 0600) == 0, "mkfifo");
    // Device nodes need root; without it the fuzzer covers the rest.
    (void)!mknod("lower/null", S_IFCHR | 0600, makedev(1, 3));
    (void)!mknod("lower/gone", S_IFCHR, makedev(0, 0));  // a whiteout
    // A layer can copy this up (a hardlink to it) and write through it.
    Check(symlink((dir + "/outside").c_str(), "lower/out") == 0, "symlink");
    int fd = open("lower/sparse", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
      (void)!pwrite(fd, "x", 1, 1 << 20);
      close(fd);
    }
    outside = Listing(dir + "/outside");
    lower = Listing(dir + "/lower");
    removed_at_exit = new std::string(dir);
    atexit([] {
      std::error_code ec;
      fs::remove_all(*removed_at_exit, ec);
    });
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Base* base = new Base();
  std::string root = base->dir + "/root";
  fs::create_directories(root);
  int fd = memfd_create("layer", MFD_CLOEXEC);
  Check(fd >= 0, "memfd_create");
  Check(write(fd, data, size) == static_cast<ssize_t>(size), "write layer");
  lseek(fd, 0, SEEK_SET);
  cradle::ApplyLimits limits;
  limits.expansion_floor_bytes = 1 << 20;
  limits.max_entries = 1000;
  limits.min_free_bytes = 0;
  for (cradle::WhiteoutStyle style :
       {cradle::WhiteoutStyle::kOverlay, cradle::WhiteoutStyle::kDelete}) {
    lseek(fd, 0, SEEK_SET);
    (void)cradle::ApplyLayer(fd, {root, {base->dir + "/lower"}, style}, limits);
    Check(Read(base->dir + "/outside/canary") == "untouched",
          "the canary changed");
    Check(Listing(base->dir + "/outside") == base->outside,
          "something changed outside the root");
    Check(Listing(base->dir + "/lower") == base->lower,
          "the lower layer changed");
    std::set<std::string> top;
    for (const auto& e : fs::directory_iterator(base->dir))
      top.insert(e.path().filename().string());
    Check(top == std::set<std::string>{"lower", "outside", "root"},
          "something was created beside the root");
    std::error_code ec;
    fs::remove_all(root, ec);
    fs::create_directories(root);
  }
  close(fd);
  fs::remove_all(root);
  return 0;
}
