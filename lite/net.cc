#include "lite/net.h"

#include <arpa/inet.h>
#include <strings.h>

#include <string>

namespace cradle::lite {

bool IsLoopbackHost(std::string_view name) {
  std::string text(name);
  if (strcasecmp(text.c_str(), "localhost") == 0) return true;
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

}  // namespace cradle::lite
