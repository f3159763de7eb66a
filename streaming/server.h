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

#include <map>
#include <memory>
#include <set>
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

namespace cradle::streaming {

struct ServerOptions {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: any free port
  absl::Duration token_ttl = absl::Minutes(1);
  // How long a connection may take to send its request head.
  absl::Duration request_timeout = absl::Seconds(30);
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
  void AcceptLoop();
  void HandleConnection(int fd);
  void ServeWebSocket(int fd, HttpRequest http, const CommandRequest& request);

  const ServerOptions options_;
  StreamingRuntime* const runtime_;
  const int listener_;
  const std::string base_url_;
  std::thread acceptor_;

  absl::Mutex mu_;
  std::map<std::string, Pending> tokens_ ABSL_GUARDED_BY(mu_);
  std::set<int> connections_ ABSL_GUARDED_BY(mu_);
  int active_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cradle::streaming

#endif  // CRADLE_STREAMING_SERVER_H_
