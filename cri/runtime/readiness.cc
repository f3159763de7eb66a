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

class StatusReadiness : public ReadinessCheck {
 public:
  StatusReadiness(std::string reason, std::function<absl::Status()> check)
      : reason_(std::move(reason)), check_(std::move(check)) {}
  Readiness Check() override {
    absl::Status s = check_();
    if (s.ok()) return {true, "", ""};
    return {false, reason_, std::string(s.message())};
  }

 private:
  const std::string reason_;
  const std::function<absl::Status()> check_;
};

}  // namespace

std::unique_ptr<ReadinessCheck> ReadyWhen(std::string reason,
                                          std::function<absl::Status()> check) {
  return std::make_unique<StatusReadiness>(std::move(reason), std::move(check));
}

std::unique_ptr<ReadinessCheck> NotBuiltYet(std::string reason,
                                            std::string message) {
  return std::make_unique<FixedReadiness>(
      Readiness{false, std::move(reason), std::move(message)});
}

}  // namespace cradle
