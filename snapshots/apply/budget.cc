#include "snapshots/apply/budget.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace cradle::apply_internal {

absl::Status Budget::Expanded(int64_t total) const {
  if (limits_.max_expansion_ratio <= 0 || compressed_ <= 0 ||
      total <= limits_.expansion_floor_bytes ||
      total / limits_.max_expansion_ratio <= compressed_) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "layer expands past ", limits_.max_expansion_ratio,
      " times its compressed size of ", compressed_, " bytes (", total,
      " bytes so far): refused as a decompression bomb; raise "
      "images.unpack_max_ratio or images.unpack_ratio_floor_mib if the "
      "image is genuine"));
}

absl::Status Budget::Entry() {
  if (limits_.max_entries > 0 && ++entries_ > limits_.max_entries) {
    return absl::ResourceExhaustedError(
        absl::StrCat("layer has more than ", limits_.max_entries,
                     " entries (images.unpack_max_entries)"));
  }
  return absl::OkStatus();
}

absl::Status Budget::Write(int64_t bytes) {
  if (limits_.min_free_bytes <= 0) return absl::OkStatus();
  since_check_ += bytes;
  if (since_check_ < limits_.free_check_interval_bytes) {
    return absl::OkStatus();
  }
  since_check_ = 0;
  return CheckFreeSpace();
}

absl::Status Budget::CheckFreeSpace() const {
  struct statvfs fs;
  if (fstatvfs(root_fd_, &fs) != 0) {
    return absl::InternalError(absl::StrCat(
        "free space of the snapshot filesystem: ", strerror(errno)));
  }
  int64_t free_bytes = static_cast<int64_t>(fs.f_bavail) * fs.f_frsize;
  if (free_bytes >= limits_.min_free_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "snapshot filesystem has ", free_bytes, " bytes free, below the ",
      limits_.min_free_bytes,
      " bytes it keeps in reserve (images.unpack_min_free_mib): free space "
      "or remove unused images"));
}

std::string RefusedCompression(int fd, int64_t start) {
  struct Magic {
    absl::string_view bytes;
    const char* name;
  };
  static constexpr Magic kMagics[] = {
      {"BZh", "bzip2"},
      {"\xFD"
       "7zXZ",
       "xz"},
      {"LZIP", "lzip"},
      {"\x1F\x9D", "compress (.Z)"},
      {"\x04\x22\x4D\x18", "lz4"},
      {"\x89LZO", "lzop"},
      {"LRZI", "lrzip"},
      {"GRZipII", "grzip"},
  };
  char head[8] = {};
  if (start < 0) return "";
  ssize_t n = pread(fd, head, sizeof(head), start);
  if (n <= 0) return "";
  absl::string_view got(head, static_cast<size_t>(n));
  for (const Magic& m : kMagics) {
    if (absl::StartsWith(got, m.bytes)) return m.name;
  }
  return "";
}

}  // namespace cradle::apply_internal
