#include "cri/runtime/container_cdi.h"

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cdi/edits.h"
#include "cdi/spec.h"
#include "glog/logging.h"

namespace cradle {

absl::StatusOr<std::vector<std::string>> CdiDeviceNames(
    const runtime::v1::ContainerConfig& config) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const runtime::v1::CDIDevice& d : config.cdi_devices()) {
    if (seen.insert(d.name()).second) names.push_back(d.name());
  }
  // Sorted by key: a protobuf map has no order of its own.
  std::map<std::string, std::string> annotations(config.annotations().begin(),
                                                 config.annotations().end());
  for (const auto& [key, value] : annotations) {
    if (!absl::StartsWith(key, kCdiAnnotationPrefix)) continue;
    for (absl::string_view name : absl::StrSplit(value, ',')) {
      std::string n(absl::StripAsciiWhitespace(name));
      if (absl::Status s = cdi::ParseQualifiedName(n).status(); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("annotation ", key, ": ", s.message()));
      }
      if (seen.insert(n).second) names.push_back(std::move(n));
    }
  }
  return names;
}

absl::Status ApplyCdiDevices(const runtime::v1::ContainerConfig& config,
                             const std::vector<std::string>& spec_dirs,
                             const std::string& container_id,
                             spec::ContainerSpecInput* in) {
  absl::StatusOr<std::vector<std::string>> names = CdiDeviceNames(config);
  if (!names.ok()) return names.status();
  if (names->empty()) return absl::OkStatus();
  std::string who = absl::StrCat("container=", container_id, " (",
                                 config.metadata().name(), ")");
  if (absl::Status s = cdi::Inject(spec_dirs, *names, in, who); !s.ok())
    return s;
  LOG(INFO) << who << ": CDI devices " << absl::StrJoin(*names, ", ")
            << " injected";
  return absl::OkStatus();
}

}  // namespace cradle
