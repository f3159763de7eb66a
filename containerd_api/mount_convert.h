// cradle's mount descriptions <-> containerd.types.Mount, field for field.
#ifndef CRADLE_CONTAINERD_API_MOUNT_CONVERT_H_
#define CRADLE_CONTAINERD_API_MOUNT_CONVERT_H_

#include <vector>

#include "containerd_api/proto/types/mount.pb.h"
#include "google/protobuf/repeated_field.h"
#include "mount/mount.h"

namespace cradle::containerd_api {

inline void ToProto(const Mount& m, ::containerd::types::Mount* out) {
  out->set_type(m.type);
  out->set_source(m.source);
  for (const std::string& o : m.options) out->add_options(o);
}

inline void ToProto(
    const std::vector<Mount>& mounts,
    google::protobuf::RepeatedPtrField<::containerd::types::Mount>* out) {
  for (const Mount& m : mounts) ToProto(m, out->Add());
}

// The target field is dropped: a containerd client's mounts are always
// mounted at the place the caller chooses.
inline std::vector<Mount> FromProto(
    const google::protobuf::RepeatedPtrField<::containerd::types::Mount>&
        mounts) {
  std::vector<Mount> out;
  for (const auto& m : mounts) {
    out.push_back(
        {m.type(), m.source(), {m.options().begin(), m.options().end()}});
  }
  return out;
}

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_MOUNT_CONVERT_H_
