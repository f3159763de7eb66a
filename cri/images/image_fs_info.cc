#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "absl/time/clock.h"
#include "cri/images/image_service.h"

namespace cradle {
namespace {

// Bytes and inodes under `dir`, each inode counted once.
void Usage(const std::string& dir, uint64_t* bytes, uint64_t* inodes) {
  std::set<std::pair<dev_t, ino_t>> seen;
  std::error_code ec;
  namespace fs = std::filesystem;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::end(it); it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) != 0 ||
        !seen.insert({st.st_dev, st.st_ino}).second) {
      continue;
    }
    *bytes += st.st_blocks * 512;
    ++*inodes;
  }
}

}  // namespace

grpc::Status ImageService::ImageFsInfo(
    grpc::ServerContext*, const runtime::v1::ImageFsInfoRequest*,
    runtime::v1::ImageFsInfoResponse* response) {
  uint64_t bytes = 0, inodes = 0;
  Usage(options_.image_fs_dir, &bytes, &inodes);
  for (auto* fs : {response->add_image_filesystems(),
                   response->add_container_filesystems()}) {
    fs->set_timestamp(absl::ToUnixNanos(absl::Now()));
    fs->mutable_fs_id()->set_mountpoint(options_.image_fs_dir);
    fs->mutable_used_bytes()->set_value(bytes);
    fs->mutable_inodes_used()->set_value(inodes);
  }
  return grpc::Status::OK;
}

}  // namespace cradle
