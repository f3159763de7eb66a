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
// one. 0 on success, else the errno. The one atomic write of the project;
// AtomicFile below is the same for content written through an fd.
int WriteFileAtomic(const std::string& path, std::string_view data,
                    int mode = 0600);

// WriteFileAtomic for content too large to hold in memory (a checkpoint
// archive): Open creates `path`.tmp, the caller writes to fd(), Commit puts
// it in place. Destroyed uncommitted, it removes the temporary, so an early
// return leaves `path` as it was and no temporary behind. Two writers of
// one `path` at a time share the temporary: callers must not race.
class AtomicFile {
 public:
  AtomicFile() = default;
  ~AtomicFile() { Abandon(); }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Creates (or truncates a crash's leftover) `path`.tmp with exactly
  // `mode`, whatever the umask. 0 on success, else the errno.
  int Open(const std::string& path, int mode = 0600);
  // The temporary, for the caller's writes; -1 when not open.
  int fd() const { return fd_; }
  // Syncs the temporary, renames it over `path` and syncs the directory,
  // so the rename itself survives a crash. 0 on success, else the errno;
  // the temporary is gone either way. An error from the directory's sync
  // comes after the rename: the new file is in place but may not survive
  // a crash.
  int Commit();
  // Closes and removes the temporary; `path` is untouched.
  void Abandon();

 private:
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
};

// Writes all of `data` to a file, pipe or terminal, retrying short writes
// and EINTR; false (errno set) when the fd will take no more.
bool WriteFully(int fd, std::string_view data);
// The same on a socket, without SIGPIPE when the peer is gone.
bool SendFully(int fd, std::string_view data);

}  // namespace cradle::lite

#endif  // CRADLE_LITE_FILES_H_
