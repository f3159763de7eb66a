// Path handling of the layer applier: how an entry's name becomes clean
// components, and how a path is opened so that it cannot leave its tree.
// Kept apart so the fuzz targets can drive exactly what the applier uses.
#ifndef CRADLE_SNAPSHOTS_APPLY_PATHS_H_
#define CRADLE_SNAPSHOTS_APPLY_PATHS_H_

#include <string>
#include <utility>
#include <vector>

namespace cradle::apply_internal {

// Longest entry path, hardlink or symlink target a layer may carry.
inline constexpr size_t kMaxPathBytes = 4096;

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens `path` (relative, clean) inside the tree at `root_fd`, as if the
// tree were "/": symlinks on the way resolve inside it. -1 and errno on
// failure.
int OpenInRoot(int root_fd, const std::string& path, int flags);

// Splits a layer path into its components, dropping empty ones and ".";
// false if a component is "..". A leading "/" means the layer's root.
bool CleanPath(const char* raw, std::vector<std::string>* parts);

}  // namespace cradle::apply_internal

#endif  // CRADLE_SNAPSHOTS_APPLY_PATHS_H_
