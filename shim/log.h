// The shim's own log lines, on stderr (which cradled points at the pod's
// shim.log): "I1125 08:23:52.937789 1234 text", glog's layout, without glog
// (whose static archive does not link beside libgcc's unwinder).
#ifndef CRADLE_SHIM_LOG_H_
#define CRADLE_SHIM_LOG_H_

#include <string>

namespace cradle::shim {

enum class Severity : char { kInfo = 'I', kWarning = 'W', kError = 'E' };

void Log(Severity severity, const std::string& text);

inline void LogInfo(const std::string& text) { Log(Severity::kInfo, text); }
inline void LogWarning(const std::string& text) {
  Log(Severity::kWarning, text);
}
inline void LogError(const std::string& text) { Log(Severity::kError, text); }

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_LOG_H_
