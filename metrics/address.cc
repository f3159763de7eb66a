#include "metrics/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cradle::metrics {

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view address,
                                                 bool allow_any_port) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address \"", address, "\": ", why,
        " (want host:port, host an IPv4 or [IPv6] literal or localhost)"));
  };
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return bad("no port");
  absl::string_view host = address.substr(0, colon);
  absl::string_view port_text = address.substr(colon + 1);

  ListenAddress out;
  bool port_digits = !port_text.empty() && port_text.size() <= 5 &&
                     std::all_of(port_text.begin(), port_text.end(),
                                 [](char c) { return absl::ascii_isdigit(c); });
  if (!port_digits || !absl::SimpleAtoi(port_text, &out.port) ||
      out.port < (allow_any_port ? 0 : 1) || out.port > 65535) {
    return bad("port must be 1-65535");
  }

  bool bracketed =
      host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  out.host = std::string(host);
  if (host.empty()) return bad("no host");

  in_addr v4{};
  in6_addr v6{};
  if (!bracketed && host == "localhost") {
    v4.s_addr = htonl(INADDR_LOOPBACK);
  } else if (!bracketed && inet_pton(AF_INET, out.host.c_str(), &v4) == 1) {
  } else if (bracketed && inet_pton(AF_INET6, out.host.c_str(), &v6) == 1) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(static_cast<uint16_t>(out.port));
    sa.sin6_addr = v6;
    std::memcpy(&out.addr, &sa, sizeof(sa));
    out.len = sizeof(sa);
    return out;
  } else if (!bracketed && host.find(':') != absl::string_view::npos) {
    return bad("an IPv6 host needs brackets");
  } else {
    return bad("host is not an IP literal or localhost");
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(out.port));
  sa.sin_addr = v4;
  std::memcpy(&out.addr, &sa, sizeof(sa));
  out.len = sizeof(sa);
  return out;
}

}  // namespace cradle::metrics
