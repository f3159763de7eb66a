// A minimal HTTP/1.1 endpoint that serves a Registry's exposition to
// Prometheus: GET (or HEAD) /v1/metrics (containerd's path) or /metrics;
// 404 for any other path, 405 for another method on those.
//
// One thread accepts and answers one connection at a time: a scrape is one
// small request every few seconds, and a single thread bounds what a stuck
// or hostile client can cost (a request must arrive within `read_timeout`
// and fit in `max_request_bytes`; every answer closes the connection).
#ifndef CRADLE_METRICS_SERVER_H_
#define CRADLE_METRICS_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "metrics/address.h"
#include "metrics/metrics.h"

namespace cradle::metrics {

struct ServerOptions {
  std::string address;          // host:port, see address.h
  bool allow_any_port = false;  // tests: port 0 binds a free port
  absl::Duration read_timeout = absl::Seconds(5);
  absl::Duration write_timeout = absl::Seconds(5);
  size_t max_request_bytes = 8 << 10;
};

class Server {
 public:
  // Binds and starts serving `registry` (not owned; it must outlive the
  // server). InvalidArgument for a bad address, Unavailable if it cannot
  // bind (naming the address and the errno).
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options, const Registry* registry);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();  // Stop()s

  // The port bound (the one asked for, or the one picked for port 0).
  int port() const { return port_; }

  // Closes the listener and joins the thread; an answer being written is
  // cut short by its write timeout at worst. Idempotent.
  void Stop();

 private:
  Server(const ServerOptions& options, const Registry* registry, int listen_fd,
         int wake_fd, int port);
  void Loop();
  void Serve(int fd);

  const ServerOptions options_;
  const Registry* const registry_;
  const int listen_fd_;
  const int wake_fd_;  // eventfd; written by Stop() to end Loop()
  const int port_;
  std::thread thread_;
  bool stopped_ = false;  // only the owner's thread calls Stop()
};

}  // namespace cradle::metrics

#endif  // CRADLE_METRICS_SERVER_H_
