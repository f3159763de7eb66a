#include "snapshots/testing/tar_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cradle::testing {
namespace {

la_ssize_t Append(archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

}  // namespace

std::string MakeTar(const std::vector<TarEntry>& entries,
                    Compression compression) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  // No padding to 10 KiB blocks: the tar bytes are then the same whatever
  // the compression, so a test knows the diff id.
  archive_write_set_bytes_in_last_block(a, 1);
  switch (compression) {
    case Compression::kNone:
      break;
    case Compression::kGzip:
      archive_write_add_filter_gzip(a);
      break;
    case Compression::kZstd:
      archive_write_add_filter_zstd(a);
      break;
    case Compression::kBzip2:
      archive_write_add_filter_bzip2(a);
      break;
    case Compression::kXz:
      archive_write_add_filter_xz(a);
      break;
    case Compression::kLzip:
      archive_write_add_filter_lzip(a);
      break;
    case Compression::kCompress:
      archive_write_add_filter_compress(a);
      break;
    case Compression::kLz4:
      archive_write_add_filter_lz4(a);
      break;
  }
  archive_write_open(a, &out, nullptr, Append, nullptr);
  for (const TarEntry& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, t.mtime, 0);
    archive_entry_set_perm(e, t.mode);
    for (const auto& [k, v] : t.xattrs)
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    switch (t.type) {
      case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
      case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, t.data.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, t.data.c_str());
        break;
      case 'c':
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdev(e, 0);
        break;
      default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, t.data.size());
    }
    archive_write_header(a, e);
    if (t.type == 'f') archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

int TempFd(const std::string& data) {
  std::string path = std::string(getenv("TEST_TMPDIR")) + "/layer-XXXXXX";
  int fd = mkstemp(path.data());
  (void)!write(fd, data.data(), data.size());
  lseek(fd, 0, SEEK_SET);
  unlink(path.c_str());
  return fd;
}

}  // namespace cradle::testing
