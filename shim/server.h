// The shim's socket: accepts cradled's connections, one call each, and
// hands the decoded request to the ShimService on a thread per connection.
#ifndef CRADLE_SHIM_SERVER_H_
#define CRADLE_SHIM_SERVER_H_

#include <memory>
#include <string>

#include "lite/status.h"
#include "shim/service.h"

namespace cradle::shim {

class ShimServer {
 public:
  // Listens on `socket` (replacing a stale one), mode 0600.
  static lite::StatusOr<std::unique_ptr<ShimServer>> Listen(
      const std::string& socket, ShimService* service);
  ~ShimServer();

  // Accepts connections until a Shutdown call has been answered.
  void Serve();

 private:
  ShimServer(std::string socket, int listener, int wake[2],
             ShimService* service)
      : socket_(std::move(socket)),
        listener_(listener),
        wake_{wake[0], wake[1]},
        service_(service) {}
  // Reads one request from `fd`, runs it, answers it. Closes `fd`.
  void Handle(int fd);

  const std::string socket_;
  const int listener_;
  // Written once Shutdown is answered, so Serve returns at once: cradled
  // waits for the shim to leave its cgroup.
  const int wake_[2];
  ShimService* const service_;
};

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_SERVER_H_
