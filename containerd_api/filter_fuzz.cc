// Fuzzes containerd's filter syntax as clients send it in List and
// Subscribe calls: the input's lines are the filters, matched against an
// object whose fields and labels come from the same bytes. Invariant: a
// filter parses or is refused with InvalidArgument, and matching never
// throws, crashes or takes more than linear time (patterns are RE2's).
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "containerd_api/api_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using cradle::containerd_api::FieldsAndLabels;
  using cradle::containerd_api::Filter;
  std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> filters = absl::StrSplit(input, '\n');
  absl::StatusOr<Filter> filter = Filter::Parse(filters);
  if (!filter.ok()) {
    if (filter.status().code() != absl::StatusCode::kInvalidArgument) abort();
    return 0;
  }
  std::map<std::string, std::string> fields = {{"topic", input},
                                               {"name", "busybox"}};
  std::map<std::string, std::string> labels = {{"a.b", input}, {"k", ""}};
  filter->Matches(FieldsAndLabels(fields, labels));
  return 0;
}
