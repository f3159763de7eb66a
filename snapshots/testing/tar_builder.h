// Builds layer tarballs in tests, so hostile entries can be crafted exactly.
#ifndef CRADLE_SNAPSHOTS_TESTING_TAR_BUILDER_H_
#define CRADLE_SNAPSHOTS_TESTING_TAR_BUILDER_H_

#include <map>
#include <string>
#include <vector>

namespace cradle::testing {

struct TarEntry {
  std::string path;
  char type = 'f';   // f file, d dir, l symlink, h hardlink, c char device
  std::string data;  // file content, or the link target
  int mode = 0644;
  int uid = 0;
  int gid = 0;
  long mtime = 1700000000;
  std::map<std::string, std::string> xattrs;
};

// Past kZstd: compressions no layer media type names (to test refusals).
enum class Compression {
  kNone,
  kGzip,
  kZstd,
  kBzip2,
  kXz,
  kLzip,
  kCompress,
  kLz4
};

std::string MakeTar(const std::vector<TarEntry>& entries,
                    Compression compression = Compression::kNone);

// Writes `data` to a fresh file under TEST_TMPDIR and opens it read-only.
int TempFd(const std::string& data);

}  // namespace cradle::testing

#endif  // CRADLE_SNAPSHOTS_TESTING_TAR_BUILDER_H_
