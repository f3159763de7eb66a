#include "cdi/registry.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace cradle::cdi {
namespace {

namespace fs = std::filesystem;

// Far above any real spec (a GPU's is tens of KiB); a bound on what one
// bad file can make the daemon hold.
constexpr uintmax_t kMaxSpecBytes = 4 << 20;

absl::StatusOr<Format> FormatOf(const fs::path& path) {
  std::string ext = path.extension().string();
  if (ext == ".json") return Format::kJson;
  if (ext == ".yaml" || ext == ".yml") return Format::kYaml;
  return absl::NotFoundError("not a spec file");
}

absl::StatusOr<std::string> ReadSpecFile(const fs::path& path) {
  std::error_code ec;
  uintmax_t size = fs::file_size(path, ec);
  if (ec) return absl::FailedPreconditionError(ec.message());
  if (size > kMaxSpecBytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        size, " bytes, more than the ", kMaxSpecBytes, " a spec may have"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError("cannot be opened");
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

// The spec files of `dir`, by name; none when it does not exist.
std::vector<fs::path> SpecFiles(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) {
    if (ec != std::errc::no_such_file_or_directory)
      LOG(WARNING) << "cdi: cannot list spec dir " << dir << ": "
                   << ec.message();
    return files;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    std::error_code type_ec;
    // Follows links: a spec may be a link to a vendor's file.
    if (!fs::is_regular_file(it->path(), type_ec)) continue;
    if (FormatOf(it->path()).ok()) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

const std::vector<std::string>& DefaultSpecDirs() {
  static const auto* dirs =
      new std::vector<std::string>{"/etc/cdi", "/var/run/cdi"};
  return *dirs;
}

Registry Registry::Load(const std::vector<std::string>& dirs) {
  Registry r;
  r.dirs_ = dirs;
  for (size_t d = 0; d < dirs.size(); ++d) {
    for (const fs::path& file : SpecFiles(dirs[d])) {
      absl::StatusOr<std::string> text = ReadSpecFile(file);
      absl::StatusOr<Spec> spec = text.ok()
                                      ? ParseSpec(*text, *FormatOf(file))
                                      : absl::StatusOr<Spec>(text.status());
      if (!spec.ok()) {
        std::string error =
            absl::StrCat(file.string(), ": ", spec.status().message());
        LOG(ERROR) << "cdi: skipping spec " << error;
        r.errors_.push_back(std::move(error));
        continue;
      }
      r.Add(*std::move(spec), d, file.string());
    }
  }
  return r;
}

void Registry::Add(Spec spec, size_t dir, const std::string& file) {
  size_t index = specs_.size();
  for (size_t i = 0; i < spec.devices.size(); ++i) {
    std::string name = absl::StrCat(spec.kind, "=", spec.devices[i].name);
    Entry entry{index, i, dir, file};
    auto it = devices_.find(name);
    if (it != devices_.end() && it->second.dir == dir) {
      std::string both = absl::StrCat(it->second.file, " and ", file);
      LOG(ERROR) << "cdi: device " << name << " is defined in both " << both
                 << "; neither is used";
      conflicts_[name] = std::move(both);
      continue;
    }
    // A later dir wins, whatever the earlier one held.
    conflicts_.erase(name);
    devices_[name] = std::move(entry);
  }
  specs_.push_back(std::move(spec));
}

std::vector<std::string> Registry::DeviceNames() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : devices_) {
    if (conflicts_.count(name) == 0) names.push_back(name);
  }
  return names;
}

absl::StatusOr<std::vector<ContainerEdits>> Registry::Resolve(
    const std::vector<std::string>& names) const {
  std::vector<const Entry*> entries;
  std::vector<std::string> unknown;
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (!seen.insert(name).second) continue;
    if (absl::StatusOr<QualifiedName> q = ParseQualifiedName(name); !q.ok())
      return q.status();
    if (auto c = conflicts_.find(name); c != conflicts_.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("CDI device ", name, " is defined in both ", c->second,
                       "; remove one of them"));
    }
    auto it = devices_.find(name);
    if (it == devices_.end()) {
      unknown.push_back(name);
    } else {
      entries.push_back(&it->second);
    }
  }
  if (!unknown.empty()) {
    std::string message =
        absl::StrCat("unresolvable CDI device", unknown.size() > 1 ? "s " : " ",
                     absl::StrJoin(unknown, ", "), ": no spec in ",
                     dirs_.empty() ? "(no CDI spec dirs configured)"
                                   : absl::StrJoin(dirs_, ", "),
                     " defines ", unknown.size() > 1 ? "them" : "it");
    if (!errors_.empty()) {
      absl::StrAppend(&message,
                      " (skipped as invalid: ", absl::StrJoin(errors_, "; "),
                      ")");
    }
    return absl::NotFoundError(message);
  }
  std::vector<ContainerEdits> edits;
  std::set<size_t> specs_done;
  for (const Entry* e : entries) {
    const Spec& spec = specs_[e->spec];
    if (specs_done.insert(e->spec).second) edits.push_back(spec.edits);
    edits.push_back(spec.devices[e->device].edits);
  }
  return edits;
}

}  // namespace cradle::cdi
