#include "cri/runtime/stop_signal.h"

#include <signal.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace cradle {
namespace {

// The kernel's real-time range; glibc's SIGRTMIN() is 34 or more (it keeps
// two for itself), so these are written as the kernel numbers them.
constexpr int kRtMin = 34;
constexpr int kRtMax = 64;

struct NamedSignal {
  const char* name;  // without "SIG"
  int number;
};

// Every name in the CRI's enum below the real-time range.
constexpr NamedSignal kSignals[] = {
    {"ABRT", SIGABRT},     {"ALRM", SIGALRM},     {"BUS", SIGBUS},
    {"CHLD", SIGCHLD},     {"CLD", SIGCHLD},      {"CONT", SIGCONT},
    {"FPE", SIGFPE},       {"HUP", SIGHUP},       {"ILL", SIGILL},
    {"INT", SIGINT},       {"IO", SIGIO},         {"IOT", SIGIOT},
    {"KILL", SIGKILL},     {"PIPE", SIGPIPE},     {"POLL", SIGPOLL},
    {"PROF", SIGPROF},     {"PWR", SIGPWR},       {"QUIT", SIGQUIT},
    {"SEGV", SIGSEGV},     {"STKFLT", SIGSTKFLT}, {"STOP", SIGSTOP},
    {"SYS", SIGSYS},       {"TERM", SIGTERM},     {"TRAP", SIGTRAP},
    {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},
    {"URG", SIGURG},       {"USR1", SIGUSR1},     {"USR2", SIGUSR2},
    {"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},
};

std::optional<int> Offset(absl::string_view text) {
  int n = 0;
  if (!absl::SimpleAtoi(text, &n) || n < 0 || n > kRtMax - kRtMin)
    return std::nullopt;
  return n;
}

}  // namespace

std::optional<int> ParseSignal(absl::string_view text) {
  int number = 0;
  if (absl::SimpleAtoi(text, &number)) {
    if (number > 0 && number <= kRtMax) return number;
    return std::nullopt;
  }
  std::string upper = absl::AsciiStrToUpper(text);
  absl::string_view name = upper;
  absl::ConsumePrefix(&name, "SIG");
  for (const NamedSignal& s : kSignals) {
    if (name == s.name) return s.number;
  }
  if (name == "RTMIN") return kRtMin;
  if (name == "RTMAX") return kRtMax;
  // "RTMIN+n" (Docker's spelling) and "RTMINPLUSn" (the CRI enum's).
  for (absl::string_view sep : {"+", "PLUS"}) {
    absl::string_view rest = name;
    if (absl::ConsumePrefix(&rest, "RTMIN") &&
        absl::ConsumePrefix(&rest, sep)) {
      std::optional<int> n = Offset(rest);
      if (n) return kRtMin + *n;
    }
  }
  for (absl::string_view sep : {"-", "MINUS"}) {
    absl::string_view rest = name;
    if (absl::ConsumePrefix(&rest, "RTMAX") &&
        absl::ConsumePrefix(&rest, sep)) {
      std::optional<int> n = Offset(rest);
      if (n) return kRtMax - *n;
    }
  }
  return std::nullopt;
}

runtime::v1::Signal CriSignal(int number) {
  std::string name;
  if (number == kRtMin) {
    name = "SIGRTMIN";
  } else if (number == kRtMax) {
    name = "SIGRTMAX";
  } else if (number > kRtMin && number < kRtMax) {
    // The enum counts up from RTMIN to +15, then down from RTMAX.
    name = number - kRtMin <= 15
               ? absl::StrCat("SIGRTMINPLUS", number - kRtMin)
               : absl::StrCat("SIGRTMAXMINUS", kRtMax - number);
  } else {
    for (const NamedSignal& s : kSignals) {
      if (s.number == number) {
        name = absl::StrCat("SIG", s.name);
        break;
      }
    }
  }
  runtime::v1::Signal out = runtime::v1::RUNTIME_DEFAULT;
  if (!name.empty()) runtime::v1::Signal_Parse(name, &out);
  return out;
}

std::string EffectiveStopSignal(runtime::v1::Signal requested,
                                const std::string& image_stop_signal) {
  if (requested != runtime::v1::RUNTIME_DEFAULT)
    return runtime::v1::Signal_Name(requested);
  return image_stop_signal;
}

int StopSignalNumber(const std::string& recorded) {
  return ParseSignal(recorded).value_or(SIGTERM);
}

runtime::v1::Signal ReportedStopSignal(const std::string& recorded) {
  if (recorded.empty()) return runtime::v1::RUNTIME_DEFAULT;
  std::optional<int> number = ParseSignal(recorded);
  return number ? CriSignal(*number) : runtime::v1::RUNTIME_DEFAULT;
}

}  // namespace cradle
