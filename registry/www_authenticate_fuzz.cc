// Fuzzes the WWW-Authenticate parser: a registry controls the header. The
// parser must be total; every challenge it returns has a lowercase scheme.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "registry/auth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view header(reinterpret_cast<const char*>(data), size);
  for (const cradle::AuthChallenge& c : cradle::ParseAuthChallenges(header)) {
    if (c.scheme.empty() || c.scheme != absl::AsciiStrToLower(c.scheme))
      abort();
    for (const auto& [name, value] : c.params) {
      if (name.empty() || value.size() > size) abort();
    }
  }
  return 0;
}
