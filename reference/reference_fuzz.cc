// Fuzzes image reference parsing. A parsed reference's normal form must
// parse again to itself (pulls, the catalog and GC compare those strings).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "reference/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<cradle::ImageReference> ref =
      cradle::ImageReference::Parse(text);
  if (!ref.ok()) return 0;
  if (ref->domain().empty() || ref->path().empty()) abort();
  if (ref->tag().empty() && !ref->digest()) abort();
  absl::StatusOr<cradle::ImageReference> again =
      cradle::ImageReference::Parse(ref->String());
  if (!again.ok() || again->String() != ref->String()) abort();
  return 0;
}
