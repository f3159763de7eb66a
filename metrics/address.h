// The metrics listener's address: "host:port" as containerd's
// `[metrics] address` spells it. host is an IPv4 literal, a bracketed IPv6
// literal ("[::1]:1338") or "localhost"; port is 1-65535. No name lookup:
// a config must not depend on DNS at boot.
#ifndef CRADLE_METRICS_ADDRESS_H_
#define CRADLE_METRICS_ADDRESS_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle::metrics {

struct ListenAddress {
  sockaddr_storage addr{};  // AF_INET or AF_INET6, port set
  socklen_t len = 0;
  std::string host;  // as written, without brackets
  int port = 0;
};

// InvalidArgument naming what is wrong. Port 0 (any free port) only if
// `allow_any_port`, which tests use.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view address,
                                                 bool allow_any_port = false);

}  // namespace cradle::metrics

#endif  // CRADLE_METRICS_ADDRESS_H_
