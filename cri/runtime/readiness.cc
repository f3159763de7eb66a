#include "cri/runtime/readiness.h"

namespace cradle {
namespace {

class FixedReadiness : public ReadinessCheck {
 public:
  explicit FixedReadiness(Readiness readiness)
      : readiness_(std::move(readiness)) {}
  Readiness Check() override { return readiness_; }

 private:
  const Readiness readiness_;
};

}  // namespace

std::unique_ptr<ReadinessCheck> NotBuiltYet(std::string reason,
                                            std::string message) {
  return std::make_unique<FixedReadiness>(
      Readiness{false, std::move(reason), std::move(message)});
}

}  // namespace cradle
