// Crossing from the shim-side lite::Status to absl::Status in the daemon.
#ifndef CRADLE_LITE_ABSL_STATUS_H_
#define CRADLE_LITE_ABSL_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lite/status.h"

namespace cradle::lite {

inline absl::Status ToAbsl(const Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.code()), s.message());
}

template <typename T>
absl::StatusOr<T> ToAbsl(StatusOr<T> s) {
  if (!s.ok()) return ToAbsl(s.status());
  return std::move(*s);
}

}  // namespace cradle::lite

#endif  // CRADLE_LITE_ABSL_STATUS_H_
