// The daemon's unix socket: one owner at a time, published atomically.
//
// A lock file beside the socket (`<address>.lock`, flock) tells a second
// daemon that the address is taken. The gRPC server listens on a temporary
// name, which gets its owner and mode before it is renamed over the address,
// so a client never sees a socket with the wrong mode and a stale socket from
// a crashed daemon is replaced in one step.
#ifndef CRADLE_CRI_SERVER_SOCKET_H_
#define CRADLE_CRI_SERVER_SOCKET_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle {

class SocketOwnership {
 public:
  // Takes the address for this process. FailedPrecondition names the pid of
  // the daemon that holds it.
  static absl::StatusOr<std::unique_ptr<SocketOwnership>> Acquire(
      absl::string_view address);
  ~SocketOwnership();  // releases the lock; the socket is removed by Withdraw()
  SocketOwnership(const SocketOwnership&) = delete;
  SocketOwnership& operator=(const SocketOwnership&) = delete;

  const std::string& address() const { return address_; }
  // Where the server should listen before Publish().
  std::string TemporaryAddress() const { return address_ + ".tmp"; }
  // Sets owner root:gid and mode 0660 on the temporary socket and renames it
  // over the address.
  absl::Status Publish(gid_t gid);
  // Removes the published socket (at clean shutdown).
  void Withdraw();

 private:
  SocketOwnership(std::string address, int lock_fd)
      : address_(std::move(address)), lock_fd_(lock_fd) {}
  std::string address_;
  int lock_fd_;
};

}  // namespace cradle

#endif  // CRADLE_CRI_SERVER_SOCKET_H_
