// The id-prefix and label-selector matching the CRI's List* filters share.
#ifndef CRADLE_CRI_RUNTIME_FILTERS_H_
#define CRADLE_CRI_RUNTIME_FILTERS_H_

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "google/protobuf/map.h"

namespace cradle {

// An empty filter value matches everything; ids match by prefix.
inline bool IdMatches(const std::string& id, const std::string& filter) {
  return filter.empty() || absl::StartsWith(id, filter);
}

// Every selector key is present with the same value.
inline bool LabelsMatch(
    const std::map<std::string, std::string>& labels,
    const google::protobuf::Map<std::string, std::string>& selector) {
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_FILTERS_H_
