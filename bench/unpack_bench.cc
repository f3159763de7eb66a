// unpack_bench: applying an image layer with cradle's applier (whiteouts,
// path checks, diff id) against plain `tar -x` of the same file.
//
//   unpack_bench LAYER.tar[.gz] [-n 5]
//
// Prints p50 and max in milliseconds for both. Nothing here asserts a speed.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "snapshots/apply/apply.h"

namespace {

void Print(const char* name, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  std::printf("%-22s %3zu %9.1f %9.1f\n", name, ms.size(), ms[ms.size() / 2],
              ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: unpack_bench LAYER [-n N]\n");
    return 2;
  }
  std::string layer = argv[1];
  int n = 5;
  if (argc == 4 && std::string(argv[2]) == "-n" &&
      !absl::SimpleAtoi(argv[3], &n)) {
    return 2;
  }
  char tmpl[] = "/tmp/unpack-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  std::string base = tmpl;
  std::vector<double> ours, tar;
  for (int i = 0; i < n; ++i) {
    std::string a = absl::StrCat(base, "/a", i),
                b = absl::StrCat(base, "/b", i);
    std::filesystem::create_directories(a);
    std::filesystem::create_directories(b);
    int fd = open(layer.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::perror(layer.c_str());
      return 1;
    }
    cradle::DirectApplier::Target target;
    target.dir = a;
    target.whiteouts = cradle::WhiteoutStyle::kOverlay;
    absl::Time start = absl::Now();
    absl::StatusOr<cradle::ApplyResult> r = cradle::ApplyLayer(fd, target);
    ours.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    close(fd);
    if (!r.ok()) {
      std::fprintf(stderr, "apply: %s\n",
                   std::string(r.status().message()).c_str());
      return 1;
    }
    std::string cmd = absl::StrCat("tar -xf '", layer, "' -C '", b, "'");
    start = absl::Now();
    if (std::system(cmd.c_str()) != 0) return 1;
    tar.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  std::printf("%-22s %3s %9s %9s\n", "unpack (ms)", "n", "p50", "max");
  Print("cradle ApplyLayer", ours);
  Print("tar -x", tar);
  std::error_code ec;
  std::filesystem::remove_all(base, ec);
  return 0;
}
