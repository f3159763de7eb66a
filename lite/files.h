// File helpers for the shim-side code, in plain syscalls: fstream and
// std::filesystem would pull std::locale into the static shim.
#ifndef CRADLE_LITE_FILES_H_
#define CRADLE_LITE_FILES_H_

#include <string>

namespace cradle::lite {

// A whole (small) file; empty when it cannot be read. For callers to whom
// a missing file and an empty one mean the same.
std::string ReadFileOrEmpty(const std::string& path);

// mkdir -p, mode 0777 less the umask; 0 on success, else the errno.
int MakeDirs(const std::string& path);

}  // namespace cradle::lite

#endif  // CRADLE_LITE_FILES_H_
