#include "failpoint/failpoint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

namespace cradle::failpoint {

const std::vector<std::string>& Armed() {
  static const std::vector<std::string>* armed = [] {
    auto* names = new std::vector<std::string>();
    const char* env = getenv(kEnv);
    std::string list = env == nullptr ? "" : env;
    size_t at = 0;
    while (at <= list.size() && !list.empty()) {
      size_t end = list.find(',', at);
      if (end == std::string::npos) end = list.size();
      if (end > at) names->push_back(list.substr(at, end - at));
      at = end + 1;
    }
    return names;
  }();
  return *armed;
}

void Hit(const char* name) {
  const std::vector<std::string>& armed = Armed();
  if (armed.empty()) return;
  if (std::find(armed.begin(), armed.end(), name) == armed.end()) return;
  // Written straight to stderr: the log must name the point even though
  // nothing after this line runs.
  char line[256];
  int n =
      snprintf(line, sizeof(line), "failpoint %s: killing the daemon\n", name);
  if (n > 0) (void)!write(STDERR_FILENO, line, std::min<int>(n, sizeof(line)));
  kill(getpid(), SIGKILL);
  pause();
}

}  // namespace cradle::failpoint
