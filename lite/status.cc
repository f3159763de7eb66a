#include "lite/status.h"

#include <cstdio>
#include <cstdlib>

namespace cradle::lite {

const char* StatusCodeName(StatusCode code) {
  static const char* const kNames[] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  int n = static_cast<int>(code);
  if (n < 0 || n >= static_cast<int>(sizeof(kNames) / sizeof(kNames[0])))
    return "UNKNOWN";
  return kNames[n];
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return StrCat(StatusCodeName(code_), ": ", message_);
}

void DieOnBadStatusOr(const Status& status) {
  fprintf(stderr, "value of a StatusOr that holds %s\n",
          status.ToString().c_str());
  abort();
}

}  // namespace cradle::lite
