// The streaming server: the CRI Exec, Attach and PortForward calls answer
// a one-time URL on it, and the client (crictl, or the kubelet proxying
// kubectl) upgrades a request to that URL into a stream.
//
// Exec and attach speak SPDY/3.1 or WebSocket, whichever the client asks
// to upgrade to; port forwarding speaks SPDY/3.1.
//
// Paths are /exec/<token>, /attach/<token> and /portforward/<token>. A token
// is random, names the request it was issued for, works once, and expires
// after a minute, as with containerd's CRI plugin.
#ifndef CRADLE_STREAMING_SERVER_H_
#define CRADLE_STREAMING_SERVER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "streaming/http.h"
#include "streaming/port_forward.h"
#include "streaming/remote_command.h"
#include "streaming/runtime.h"
#include "streaming/stream_timeouts.h"

namespace cradle::streaming {

// What the accept loop asks of the OS; tests swap these in to make accept
// fail or threads impossible. Empty members mean the real calls.
struct ServerHooks {
  // accept4(2) on the listener; -1 with errno on failure.
  std::function<int(int listener)> accept;
  // Starts `work` on a detached thread; throws when it cannot (as
  // std::thread does, with std::system_error or std::bad_alloc).
  std::function<void(std::function<void()> work)> start_thread;
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: any free port
  absl::Duration token_ttl = absl::Minutes(1);
  // How long a connection may take to send its whole request head, however
  // it trickles in; then it is answered 408 and closed.
  absl::Duration request_timeout = absl::Seconds(10);
  // Connections served at once past their request head (each holds a
  // thread, more once upgraded). Past it a connection is answered 503 and
  // closed once its head is in.
  int max_connections = 128;
  // Connections still sending their request head, counted apart: silent
  // clients must not take the slots live sessions need. Past it the oldest
  // such connection is dropped to make room.
  int max_pending_heads = 32;
  // Bounds on upgraded connections.
  StreamTimeouts stream_timeouts;
  // How long accept waits before retrying when the process or system is
  // out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).
  absl::Duration accept_backoff = absl::Milliseconds(100);
  ServerHooks hooks;
};

class Server {
 public:
  // Listens and serves on a thread of its own until destroyed.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options, StreamingRuntime* runtime);
  ~Server();

  // One-time URLs for validated requests.
  std::string ExecUrl(const ExecOptions& options);
  std::string AttachUrl(const AttachOptions& options);
  std::string PortForwardUrl(const PortForwardRequest& request);

  // "http://127.0.0.1:<port>"
  const std::string& base_url() const { return base_url_; }

 private:
  using Request = std::variant<CommandRequest, PortForwardRequest>;
  struct Pending {
    Request request;
    absl::Time expires;
  };

  Server(const ServerOptions& options, StreamingRuntime* runtime, int listener,
         std::string base_url)
      : options_(options),
        runtime_(runtime),
        listener_(listener),
        base_url_(std::move(base_url)) {}

  std::string Issue(const std::string& kind, Request request);
  // The request behind a token, once; NotFound for unknown, used or
  // expired tokens.
  absl::StatusOr<Request> Redeem(const std::string& token);
  struct Connection {
    int fd;
    bool head = true;  // still sending its request head
  };

  void AcceptLoop();
  // Serves the connection `fd` on a thread of its own, or refuses it.
  void Dispatch(int fd);
  // Drops the oldest connection still sending its head.
  void EvictOldestHead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stops tracking connection `id`; must come before its fd is closed, or
  // ~Server could shut down a reused fd number. Idempotent.
  void Forget(uint64_t id);
  void HandleConnection(uint64_t id, int fd);
  // The websocket protocol to answer `http` with; "" once it was refused
  // with an error response.
  std::string AcceptWebSocket(int fd, const HttpRequest& http);

  const ServerOptions options_;
  StreamingRuntime* const runtime_;
  const int listener_;
  const std::string base_url_;
  std::thread acceptor_;

  absl::Mutex mu_;
  std::map<std::string, Pending> tokens_ ABSL_GUARDED_BY(mu_);
  // Open connections by id, oldest first; ~Server shuts them down.
  std::map<uint64_t, Connection> connections_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  // Connections in connections_ still sending their head, and past it.
  int pending_heads_ ABSL_GUARDED_BY(mu_) = 0;
  int served_ ABSL_GUARDED_BY(mu_) = 0;
  // Connection threads running; ~Server waits for them all.
  int threads_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_SERVER_H_
