// File helpers in plain syscalls, for the daemon and the shim alike (the
// shim's side cannot use fstream or std::filesystem: they would pull
// std::locale into its static binary).
#ifndef CRADLE_LITE_FILES_H_
#define CRADLE_LITE_FILES_H_

#include <string>
#include <string_view>

namespace cradle::lite {

// A whole (small) file; empty when it cannot be read. For callers to whom
// a missing file and an empty one mean the same.
std::string ReadFileOrEmpty(const std::string& path);

// mkdir -p, mode 0777 less the umask; 0 on success, else the errno.
int MakeDirs(const std::string& path);

// Replaces `path` with `data` all at once: written to `path`.tmp, synced,
// renamed over it. A crash leaves the old file or the new, never a torn
// one. 0 on success, else the errno. The one atomic write of the project.
int WriteFileAtomic(const std::string& path, std::string_view data,
                    int mode = 0600);

// Writes all of `data` to a file, pipe or terminal, retrying short writes
// and EINTR; false (errno set) when the fd will take no more.
bool WriteFully(int fd, std::string_view data);
// The same on a socket, without SIGPIPE when the peer is gone.
bool SendFully(int fd, std::string_view data);

}  // namespace cradle::lite

#endif  // CRADLE_LITE_FILES_H_
