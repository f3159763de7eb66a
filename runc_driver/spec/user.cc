// User and group resolution against an image's own /etc/passwd and
// /etc/group (the container's view, not the host's).
#include "oci/user.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runc_driver/spec/spec.h"

namespace cradle::spec {
namespace {

constexpr size_t kMaxDatabaseSize = 16 << 20;

struct PasswdEntry {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string home;
};

struct GroupEntry {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;
};

std::vector<PasswdEntry> ParsePasswd(absl::string_view text) {
  std::vector<PasswdEntry> entries;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line.front() == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    PasswdEntry e;
    std::optional<uint32_t> uid =
        f.size() >= 7 ? oci::ParseId(f[2]) : std::nullopt;
    std::optional<uint32_t> gid =
        f.size() >= 7 ? oci::ParseId(f[3]) : std::nullopt;
    if (!uid || !gid) continue;
    e.uid = *uid;
    e.gid = *gid;
    e.name = std::string(f[0]);
    e.home = std::string(f[5]);
    entries.push_back(std::move(e));
  }
  return entries;
}

std::vector<GroupEntry> ParseGroup(absl::string_view text) {
  std::vector<GroupEntry> entries;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line.front() == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    GroupEntry e;
    std::optional<uint32_t> gid =
        f.size() >= 4 ? oci::ParseId(f[2]) : std::nullopt;
    if (!gid) continue;
    e.gid = *gid;
    e.name = std::string(f[0]);
    for (absl::string_view m : absl::StrSplit(f[3], ',', absl::SkipEmpty())) {
      e.members.emplace_back(m);
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

// The database's text, or empty when the image has none.
absl::StatusOr<std::string> Database(absl::string_view rootfs,
                                     absl::string_view path) {
  absl::StatusOr<std::string> text = ReadFileInRoot(rootfs, path);
  if (text.status().code() == absl::StatusCode::kNotFound) return std::string();
  return text;
}

}  // namespace

absl::StatusOr<std::string> ReadFileInRoot(absl::string_view root,
                                           absl::string_view path) {
  std::string root_path(root);
  int root_fd = open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    return absl::InternalError(
        absl::StrCat("open rootfs ", root, ": ", strerror(errno)));
  }
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  std::string relative(path);
  int fd = static_cast<int>(
      syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof(how)));
  int err = errno;
  close(root_fd);
  if (fd < 0) {
    std::string what =
        absl::StrCat("open ", path, " in ", root, ": ", strerror(err));
    return err == ENOENT ? absl::NotFoundError(what)
                         : absl::InternalError(what);
  }
  std::string data;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    data.append(buf, n);
    if (data.size() > kMaxDatabaseSize) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(path, " in the image is too large"));
    }
  }
  close(fd);
  return data;
}

absl::StatusOr<User> ResolveUser(absl::string_view rootfs,
                                 absl::string_view spec, bool image_groups) {
  // Parsed before anything is read: a malformed user never falls back to a
  // name lookup (a passwd line "-1:x:0:0" would make "-1" root).
  absl::StatusOr<oci::UserSpec> parsed = oci::ParseUserSpec(spec);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<std::string> passwd_text = Database(rootfs, "/etc/passwd");
  if (!passwd_text.ok()) return passwd_text.status();
  absl::StatusOr<std::string> group_text = Database(rootfs, "/etc/group");
  if (!group_text.ok()) return group_text.status();
  std::vector<PasswdEntry> passwd = ParsePasswd(*passwd_text);
  std::vector<GroupEntry> groups = ParseGroup(*group_text);

  User user;
  const PasswdEntry* entry = nullptr;
  if (parsed->uid) {
    user.uid = *parsed->uid;
    for (const PasswdEntry& e : passwd) {
      if (e.uid == user.uid) {
        entry = &e;
        break;
      }
    }
  } else {
    for (const PasswdEntry& e : passwd) {
      if (e.name == parsed->name) {
        entry = &e;
        break;
      }
    }
    if (entry == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("user \"", parsed->name,
                       "\" has no entry in the image's /etc/passwd"));
    }
    user.uid = entry->uid;
  }
  if (entry != nullptr) {
    user.gid = entry->gid;
    user.username = entry->name;
    user.home = entry->home;
  }
  if (parsed->gid) {
    user.gid = *parsed->gid;
  } else if (!parsed->group.empty()) {
    const GroupEntry* group = nullptr;
    for (const GroupEntry& g : groups) {
      if (g.name == parsed->group) group = &g;
    }
    if (group == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("group \"", parsed->group,
                       "\" has no entry in the image's /etc/group"));
    }
    user.gid = group->gid;
  }
  // Merge: the groups that list the user. Strict: none (the primary gid
  // still comes from /etc/passwd; a group *name* in `spec` still needs
  // /etc/group, which is the user asking, not the image adding).
  if (image_groups && !user.username.empty()) {
    for (const GroupEntry& g : groups) {
      if (g.gid == user.gid) continue;
      for (const std::string& m : g.members) {
        if (m == user.username) user.additional_gids.push_back(g.gid);
      }
    }
  }
  if (user.home.empty()) user.home = "/";
  return user;
}

}  // namespace cradle::spec
