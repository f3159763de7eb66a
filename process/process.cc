#include "process/process.h"

#include <string_view>

#include "lite/absl_status.h"

namespace cradle {
namespace {

std::string_view Std(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace

absl::StatusOr<pid_t> Spawn(const SpawnOptions& options) {
  return lite::ToAbsl(lite::Spawn(options));
}

absl::StatusOr<ExitStatus> WaitFor(pid_t pid) {
  return lite::ToAbsl(lite::WaitFor(pid));
}

absl::StatusOr<RunResult> RunAndCapture(const SpawnOptions& options,
                                        absl::string_view input,
                                        absl::Duration timeout,
                                        size_t max_output) {
  // An infinite timeout becomes milliseconds::max(), which lite saturates.
  return lite::ToAbsl(lite::RunAndCapture(
      options, Std(input), absl::ToChronoMilliseconds(timeout), max_output));
}

absl::StatusOr<std::string> FindProgram(absl::string_view name) {
  return lite::ToAbsl(lite::FindProgram(Std(name)));
}

}  // namespace cradle
