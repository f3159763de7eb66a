// Fuzzes the image documents a registry sends: index, manifest and config
// JSON, the kind sniffing, and platform choice. All must return a status,
// never throw; what they accept must keep the invariants the puller uses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "oci/image.h"

namespace {

void Check(const cradle::oci::Descriptor& d) {
  if (d.size < 0) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace oci = cradle::oci;
  absl::string_view json(reinterpret_cast<const char*>(data), size);
  (void)oci::DocumentKind("", json);
  (void)oci::DocumentKind(oci::media_type::kIndex, json);
  if (absl::StatusOr<oci::Index> index = oci::ParseIndex(json); index.ok()) {
    for (const oci::Descriptor& d : index->manifests) Check(d);
    absl::StatusOr<oci::Descriptor> chosen =
        oci::ChoosePlatform(*index, oci::HostPlatform());
    if (chosen.ok()) Check(*chosen);
  }
  if (absl::StatusOr<oci::Manifest> m = oci::ParseManifest(json); m.ok()) {
    Check(m->config);
    for (const oci::Descriptor& d : m->layers) {
      Check(d);
      if (!oci::IsLayerType(d.media_type)) abort();
    }
  }
  (void)oci::ParseImageConfig(json);
  return 0;
}
