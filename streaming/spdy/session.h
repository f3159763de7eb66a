// A SPDY/3.1 connection: many streams over one socket, each a pair of
// byte pipes that either end can half-close. Kubernetes' streaming clients
// open one stream per stdio channel (or per forwarded connection).
//
// Flow control is not enforced in either direction: the Go client cradle
// talks to (spdystream) ignores WINDOW_UPDATE, so data is buffered as it
// arrives.
#ifndef CRADLE_STREAMING_SPDY_SESSION_H_
#define CRADLE_STREAMING_SPDY_SESSION_H_

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "streaming/spdy/framer.h"

namespace cradle::spdy {

class Session;

class Stream {
 public:
  Stream(Session* session, uint32_t id, Headers headers)
      : session_(session), id_(id), headers_(std::move(headers)) {}

  uint32_t id() const { return id_; }
  const Headers& headers() const { return headers_; }
  std::string Header(absl::string_view name) const {
    return HeaderValue(headers_, name);
  }

  // The next data from the peer; false once it finished the stream, reset
  // it, or the connection ended.
  bool Read(std::string* data);
  // Sends data; fails once either side closed or reset the stream.
  absl::Status Write(absl::string_view data);
  // Finishes our direction (FIN). Idempotent.
  void Close();
  // Abandons the stream in both directions (RST_STREAM).
  void Reset();
  // Stops taking data from the peer: a blocked Read returns false, and so
  // do later ones. Nothing is sent.
  void StopReading();

 private:
  friend class Session;
  void Deliver(std::string data, bool fin);
  void EndRemote(bool reset);

  Session* const session_;  // outlives its streams
  const uint32_t id_;
  Headers headers_;

  absl::Mutex mu_;
  std::deque<std::string> incoming_ ABSL_GUARDED_BY(mu_);
  bool remote_done_ ABSL_GUARDED_BY(mu_) = false;
  bool local_done_ ABSL_GUARDED_BY(mu_) = false;
  // Whether an Open waiting for the reply may stop waiting; whether the
  // reply itself came.
  bool replied_ ABSL_GUARDED_BY(mu_) = false;
  bool reply_received_ ABSL_GUARDED_BY(mu_) = false;
};

class Session {
 public:
  // Takes `fd`, a connected socket. `pending` holds bytes already read
  // from it past the HTTP upgrade. A server opens even stream ids, a
  // client odd ones.
  Session(int fd, bool is_server, std::string pending = "");
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Reads frames until the connection ends, or until no frame has passed
  // either way for `idle` (then the connection is cut). Streams the peer
  // opens are answered and handed to `on_stream` on this thread (it must
  // not block).
  void Serve(std::function<void(std::shared_ptr<Stream>)> on_stream,
             absl::Duration idle = absl::InfiniteDuration());

  // Streams the peer may have open at once; more are refused
  // (RST_STREAM REFUSED_STREAM), so a peer cannot grow our tables at will.
  static constexpr size_t kMaxOpenStreams = 256;

  // Opens a stream and waits for the peer's reply (client side).
  absl::StatusOr<std::shared_ptr<Stream>> Open(const Headers& headers,
                                               absl::Duration timeout);

  // Says goodbye (GOAWAY), finishes sending, and after `linger` cuts the
  // connection if the peer has not closed it. Serve then returns.
  void Shutdown(absl::Duration linger);
  // Cuts the connection at once.
  void Abort();

  bool ended();
  // Streams not yet finished in both directions.
  size_t open_streams();

 private:
  friend class Stream;
  // Drops a stream finished both ways: late frames for it are ignored.
  void Forget(uint32_t id);
  absl::Status Send(const Frame& frame);
  void EndAll();
  // Waits until `fd_` is readable; false when the connection stayed idle
  // for `idle`.
  bool WaitReadable(absl::Duration idle);
  void Touch();

  const int fd_;
  const bool is_server_;
  std::string pending_;
  Framer framer_;  // Parse on the reading thread; Encode under write_mu_
  // When a frame last passed either way (absl::ToUnixNanos).
  std::atomic<int64_t> last_active_{0};

  absl::Mutex write_mu_;
  bool write_closed_ ABSL_GUARDED_BY(write_mu_) = false;

  absl::Mutex mu_;
  std::map<uint32_t, std::shared_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  uint32_t next_id_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cradle::spdy

#endif  // CRADLE_STREAMING_SPDY_SESSION_H_
