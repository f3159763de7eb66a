// Fuzzes CDI spec parsing: spec files are written by vendors' tools and
// drivers, and one bad file must never take the daemon down. Both readers
// must return a status, never throw; what they accept must be usable.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "cdi/spec.h"

namespace {

void Check(const cradle::cdi::Spec& spec) {
  if (spec.devices.empty()) abort();
  for (const cradle::cdi::Device& d : spec.devices) {
    if (!cradle::cdi::ValidateDeviceName(d.name).ok()) abort();
    if (!cradle::cdi::ParseQualifiedName(spec.kind + "=" + d.name).ok())
      abort();
    for (const cradle::cdi::DeviceNode& n : d.edits.device_nodes) {
      if (n.path.empty()) abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace cdi = cradle::cdi;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (cdi::Format f : {cdi::Format::kJson, cdi::Format::kYaml}) {
    if (absl::StatusOr<cdi::Spec> spec = cdi::ParseSpec(text, f); spec.ok())
      Check(*spec);
  }
  (void)cdi::ParseQualifiedName(text);
  return 0;
}
