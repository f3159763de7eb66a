// Readiness of the parts behind the CRI Status conditions.
#ifndef CRADLE_CRI_RUNTIME_READINESS_H_
#define CRADLE_CRI_RUNTIME_READINESS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace cradle {

// One CRI condition's worth of truth: whether the part can serve, and if not,
// a CamelCase reason and a message an operator can act on.
struct Readiness {
  bool ready = false;
  std::string reason;
  std::string message;
};

// Asked on every Status call; must be cheap and thread-safe.
class ReadinessCheck {
 public:
  virtual ~ReadinessCheck() = default;
  virtual Readiness Check() = 0;
};

// Ready when `check` answers OK; otherwise not, with `reason` and the
// status's message. `check` must be cheap and thread-safe.
std::unique_ptr<ReadinessCheck> ReadyWhen(std::string reason,
                                          std::function<absl::Status()> check);

// A part this build of cradle does not have yet: never ready.
std::unique_ptr<ReadinessCheck> NotBuiltYet(std::string reason,
                                            std::string message);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_READINESS_H_
