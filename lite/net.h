// Host names in plain C++, for daemon and tools alike.
#ifndef CRADLE_LITE_NET_H_
#define CRADLE_LITE_NET_H_

#include <string_view>

namespace cradle::lite {

// Whether `name` (a host without port or brackets) is this machine's
// loopback: "localhost" in any case, 127.0.0.0/8, or ::1 (also as
// ::ffff:127.x.y.z).
bool IsLoopbackHost(std::string_view name);

}  // namespace cradle::lite

#endif  // CRADLE_LITE_NET_H_
