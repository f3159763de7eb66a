// YAML text to a JSON value, so CDI specs in either format go through one
// parser. Internal to //cdi.
#ifndef CRADLE_CDI_YAML_JSON_H_
#define CRADLE_CDI_YAML_JSON_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace cradle::cdi {

// The first YAML document of `text` as JSON. Plain scalars are read as
// YAML 1.1 does for the types CDI has (as the reference library's YAML
// reader does): "~"/"null"/empty are null, integers (decimal, 0x hex, 0 or
// 0o octal) are numbers, "true"/"false" are booleans, the rest and every
// quoted scalar are strings. InvalidArgument on a syntax error, a duplicate
// key, a non-scalar key, nesting deeper than 64 or more than a million
// nodes (aliases can expand a small file a lot). Never throws.
absl::StatusOr<nlohmann::json> YamlToJson(absl::string_view text);

}  // namespace cradle::cdi

#endif  // CRADLE_CDI_YAML_JSON_H_
