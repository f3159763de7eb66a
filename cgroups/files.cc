#include "cgroups/files.h"

#include <sys/stat.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lite/files.h"

namespace cradle::cgroups {

std::optional<uint64_t> ReadNumber(const std::string& path) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(lite::ReadFileOrEmpty(path)),
                        &v)) {
    return std::nullopt;
  }
  return v;
}

std::map<std::string, uint64_t> ReadKeyed(const std::string& path) {
  std::map<std::string, uint64_t> values;
  for (absl::string_view line :
       absl::StrSplit(lite::ReadFileOrEmpty(path), '\n')) {
    std::vector<absl::string_view> kv =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t v;
    if (kv.size() == 2 && absl::SimpleAtoi(kv[1], &v)) {
      values[std::string(kv[0])] = v;
    }
  }
  return values;
}

uint64_t Get(const std::map<std::string, uint64_t>& values, const char* key) {
  auto it = values.find(key);
  return it == values.end() ? 0 : it->second;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string SliceDirectory(absl::string_view slice) {
  absl::string_view stem = slice;
  absl::ConsumeSuffix(&stem, ".slice");
  std::string dir, prefix;
  for (absl::string_view piece : absl::StrSplit(stem, '-')) {
    prefix =
        prefix.empty() ? std::string(piece) : absl::StrCat(prefix, "-", piece);
    absl::StrAppend(&dir, "/", prefix, ".slice");
  }
  return dir;
}

}  // namespace cradle::cgroups
