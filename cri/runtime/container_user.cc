#include "cri/runtime/container_user.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lite/files.h"
#include "namespaces/user.h"
#include "oci/user.h"

namespace cradle {
namespace {

void SortUnique(std::vector<uint32_t>* ids) {
  std::sort(ids->begin(), ids->end());
  ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
}

// The whitespace-separated fields after "<key>:", or nullopt when the
// status has no such line.
std::optional<std::vector<absl::string_view>> Fields(absl::string_view status,
                                                     absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, key) || !absl::ConsumePrefix(&rest, ":"))
      continue;
    return std::vector<absl::string_view>(
        absl::StrSplit(rest, absl::ByAnyChar(" \t"), absl::SkipEmpty()));
  }
  return std::nullopt;
}

// Maps `ids` from host ids into the namespace with these maps; false
// when one is not mapped (the process is leaving, or changed namespaces).
bool Inside(const std::vector<IdRange>& uids, const std::vector<IdRange>& gids,
            CriContainer::UserIds* ids) {
  std::optional<uint32_t> uid = InsideId(uids, ids->uid);
  std::optional<uint32_t> gid = InsideId(gids, ids->gid);
  if (!uid || !gid) return false;
  ids->uid = *uid;
  ids->gid = *gid;
  for (uint32_t& g : ids->supplemental_groups) {
    std::optional<uint32_t> inside = InsideId(gids, g);
    if (!inside) return false;
    g = *inside;
  }
  SortUnique(&ids->supplemental_groups);
  return true;
}

}  // namespace

std::optional<CriContainer::UserIds> ParseProcStatusIds(
    absl::string_view status) {
  // "Uid:" and "Gid:" list real, effective, saved and filesystem ids; the
  // CRI asks for the real ones.
  auto uid_fields = Fields(status, "Uid");
  auto gid_fields = Fields(status, "Gid");
  auto group_fields = Fields(status, "Groups");
  if (!uid_fields || !gid_fields || !group_fields || uid_fields->empty() ||
      gid_fields->empty()) {
    return std::nullopt;
  }
  std::optional<uint32_t> uid = oci::ParseId((*uid_fields)[0]);
  std::optional<uint32_t> gid = oci::ParseId((*gid_fields)[0]);
  if (!uid || !gid) return std::nullopt;
  CriContainer::UserIds ids;
  ids.uid = *uid;
  ids.gid = *gid;
  for (absl::string_view g : *group_fields) {
    std::optional<uint32_t> group = oci::ParseId(g);
    if (!group) return std::nullopt;
    ids.supplemental_groups.push_back(*group);
  }
  SortUnique(&ids.supplemental_groups);
  return ids;
}

CriContainer::UserIds RecordedIds(const spec::User& user) {
  CriContainer::UserIds ids;
  ids.uid = user.uid;
  ids.gid = user.gid;
  ids.supplemental_groups = user.additional_gids;
  SortUnique(&ids.supplemental_groups);
  return ids;
}

std::optional<CriContainer::UserIds> CurrentIds(const CriContainer& c,
                                                const std::string& proc_root) {
  if (c.state == CriContainer::kRunning && c.pid > 0) {
    std::string proc = absl::StrCat(proc_root, "/", c.pid);
    std::optional<CriContainer::UserIds> live =
        ParseProcStatusIds(lite::ReadFileOrEmpty(proc + "/status"));
    // /proc shows ids as our user namespace sees them; in a pod with its
    // own, the CRI wants them as the container sees them.
    std::optional<std::vector<IdRange>> uids =
        ParseMapText(lite::ReadFileOrEmpty(proc + "/uid_map"));
    std::optional<std::vector<IdRange>> gids =
        ParseMapText(lite::ReadFileOrEmpty(proc + "/gid_map"));
    bool mapped = uids && gids && !uids->empty() && !gids->empty();
    if (live && (!mapped || Inside(*uids, *gids, &*live))) return live;
  }
  return c.user;
}

void ToCriUser(const CriContainer::UserIds& ids,
               runtime::v1::ContainerUser* out) {
  runtime::v1::LinuxContainerUser* linux = out->mutable_linux();
  linux->set_uid(ids.uid);
  linux->set_gid(ids.gid);
  for (uint32_t g : ids.supplemental_groups) linux->add_supplemental_groups(g);
}

}  // namespace cradle
