#include "shim/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace cradle::shim {

void Log(Severity severity, const std::string& text) {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  tm local;
  localtime_r(&now.tv_sec, &local);
  char line[64];
  int n = snprintf(line, sizeof(line), "%c%02d%02d %02d:%02d:%02d.%06ld %ld ",
                   static_cast<char>(severity), local.tm_mon + 1, local.tm_mday,
                   local.tm_hour, local.tm_min, local.tm_sec,
                   now.tv_nsec / 1000, static_cast<long>(syscall(SYS_gettid)));
  std::string out(line, n > 0 ? n : 0);
  out.append(text);
  out.push_back('\n');
  // One write per line, so lines from threads do not interleave.
  (void)!write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace cradle::shim
