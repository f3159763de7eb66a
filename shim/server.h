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

  // Accepts connections until the service shuts down.
  void Serve();

 private:
  ShimServer(std::string socket, int listener, ShimService* service)
      : socket_(std::move(socket)), listener_(listener), service_(service) {}

  const std::string socket_;
  const int listener_;
  ShimService* const service_;
};

// Reads one request from `fd`, runs it, answers it. Closes `fd`.
void HandleConnection(ShimService* service, int fd);

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_SERVER_H_
