// Stop signals: the image's STOPSIGNAL text ("SIGQUIT", "QUIT", "3",
// "SIGRTMIN+3"), the CRI's Signal enum (ContainerConfig.stop_signal,
// ContainerStatus.stop_signal) and Linux signal numbers, in one place.
#ifndef CRADLE_CRI_RUNTIME_STOP_SIGNAL_H_
#define CRADLE_CRI_RUNTIME_STOP_SIGNAL_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "cri/api/runtime/v1/cri.h"

namespace cradle {

// The Linux number of a signal written as a number ("3"), a name with or
// without "SIG" in any case ("SIGQUIT", "quit"), a real-time offset
// ("SIGRTMIN+3", "RTMAX-1") or a CRI enum name ("SIGRTMINPLUS3");
// nullopt when it names no signal. Real-time numbers are the kernel's
// (SIGRTMIN 34, SIGRTMAX 64), as Docker's and runc's tables count them.
std::optional<int> ParseSignal(absl::string_view text);

// The CRI enum value of a Linux signal number; RUNTIME_DEFAULT for a
// number the enum has no name for.
runtime::v1::Signal CriSignal(int number);

// The stop signal a container is created with, as text to record:
// `requested` (ContainerConfig.stop_signal) when set, else the image's
// STOPSIGNAL, else "" (the runtime's default, SIGTERM).
std::string EffectiveStopSignal(runtime::v1::Signal requested,
                                const std::string& image_stop_signal);

// The signal StopContainer sends for a recorded stop signal: SIGTERM when
// it is empty or names no signal.
int StopSignalNumber(const std::string& recorded);

// What ContainerStatus reports for a recorded stop signal:
// RUNTIME_DEFAULT when neither the container nor its image set one.
runtime::v1::Signal ReportedStopSignal(const std::string& recorded);

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_STOP_SIGNAL_H_
