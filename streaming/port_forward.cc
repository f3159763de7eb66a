#include "streaming/port_forward.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "streaming/spdy/session.h"

namespace cradle::streaming {
namespace {

// Everything one port-forward connection runs: a pump per forwarded
// connection, each with the socket it dialled into the pod.
class Forwarder {
 public:
  Forwarder(const PortForwardRequest& request, StreamingRuntime* runtime,
            absl::Duration pairing_timeout)
      : request_(request),
        runtime_(runtime),
        pairing_timeout_(pairing_timeout) {}

  ~Forwarder() {
    std::list<std::thread> pumps;
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      // Unblock pumps reading from the pod.
      for (int fd : sockets_) shutdown(fd, SHUT_RDWR);
      pumps.swap(pumps_);
    }
    for (std::thread& t : pumps) t.join();  // they take mu_ as they end
  }

  // On the session's reading thread: pairs streams, must not block.
  void AddStream(std::shared_ptr<spdy::Stream> stream) {
    std::string type = absl::AsciiStrToLower(stream->Header("streamtype"));
    std::string id = stream->Header("requestid");
    if (id.empty()) {
      // Clients before request ids: an error stream, then its data stream.
      id = absl::StrCat(type == "data" ? stream->id() - 2 : stream->id());
    }
    absl::MutexLock lock(&mu_);
    // A client may reset one stream of a pair and never send the other:
    // drop half pairs that waited too long, or they fill pending_ for good.
    absl::Time now = absl::Now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (now - it->second.added < pairing_timeout_) {
        ++it;
        continue;
      }
      VLOG(1) << "port-forward: pod=" << request_.pod_id << ": request "
              << it->first << " never got its other stream; dropping it";
      for (spdy::Stream* s : {it->second.data.get(), it->second.error.get()}) {
        if (s != nullptr) s->Reset();
      }
      it = pending_.erase(it);
    }
    // Still bound them, should a client open them faster than they expire.
    if (pending_.find(id) == pending_.end() &&
        pending_.size() >= spdy::Session::kMaxOpenStreams) {
      LOG_EVERY_N(WARNING, 100) << "port-forward: pod=" << request_.pod_id
                                << ": too many unpaired streams; refusing "
                                << type << " stream for request " << id;
      stream->Reset();
      return;
    }
    auto [entry, inserted] = pending_.try_emplace(id);
    Pair& pair = entry->second;
    if (inserted) pair.added = now;
    if (type == "data" && pair.data == nullptr) {
      pair.data = std::move(stream);
    } else if (type == "error" && pair.error == nullptr) {
      pair.error = std::move(stream);
    } else {
      LOG(WARNING) << "port-forward: unexpected stream '" << type
                   << "' for request " << id;
      stream->Reset();
      if (inserted) pending_.erase(entry);
      return;
    }
    if (pair.data == nullptr || pair.error == nullptr) return;
    Pair ready = std::move(pair);
    pending_.erase(id);
    if (closing_) return;
    // A long session forwards many connections: join the finished pumps.
    for (auto it = pumps_.begin(); it != pumps_.end();) {
      if (finished_.erase(it->get_id()) > 0) {
        it->join();
        it = pumps_.erase(it);
      } else {
        ++it;
      }
    }
    // Each forward costs two threads and a socket into the pod.
    if (pumps_.size() >= kMaxForwardsPerConnection) {
      LOG_EVERY_N(WARNING, 100)
          << "port-forward: pod=" << request_.pod_id << " has "
          << kMaxForwardsPerConnection
          << " forwards running on this connection; refusing request " << id;
      ready.data->Reset();
      ready.error->Reset();
      return;
    }
    try {
      pumps_.emplace_back([this, ready] {
        Forward(ready);
        absl::MutexLock lock(&mu_);
        finished_.insert(std::this_thread::get_id());
      });
    } catch (...) {  // std::thread throws system_error or bad_alloc
      LOG(WARNING) << "port-forward: pod=" << request_.pod_id
                   << ": cannot start a thread; refusing request " << id;
      ready.data->Reset();
      ready.error->Reset();
    }
  }

 private:
  struct Pair {
    std::shared_ptr<spdy::Stream> data;
    std::shared_ptr<spdy::Stream> error;
    absl::Time added;  // when its first stream came
  };

  void Forward(Pair pair) {
    int32_t port = 0;
    std::string error;
    if (!absl::SimpleAtoi(pair.data->Header("port"), &port) || port <= 0 ||
        port > 65535) {
      error = absl::StrCat("invalid port '", pair.data->Header("port"), "'");
    } else if (!request_.ports.empty() &&
               std::find(request_.ports.begin(), request_.ports.end(), port) ==
                   request_.ports.end()) {
      error = absl::StrCat("port ", port, " was not requested");
    }
    int fd = -1;
    if (error.empty()) {
      absl::StatusOr<int> dialled = absl::InternalError("no dial");
      try {  // on a pump thread: nothing may escape it
        dialled = runtime_->DialPod(request_.pod_id, port);
      } catch (const std::exception& e) {
        dialled = absl::InternalError(e.what());
      }
      if (dialled.ok()) {
        fd = *dialled;
      } else {
        error = absl::StrCat("cannot forward to port ", port, " of pod ",
                             request_.pod_id, ": ", dialled.status().message());
      }
    }
    if (fd < 0) {
      LOG(WARNING) << "port-forward: " << error;
      (void)pair.error->Write(error);
      pair.error->Close();
      pair.data->Close();
      pair.data->StopReading();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (closing_) shutdown(fd, SHUT_RDWR);
      sockets_.insert(fd);
    }
    // Client to pod on a helper thread; pod to client here.
    std::thread upstream;
    try {
      upstream = std::thread([fd, data = pair.data] {
        std::string chunk;
        while (data->Read(&chunk)) {
          size_t done = 0;
          while (done < chunk.size()) {
            ssize_t n = send(fd, chunk.data() + done, chunk.size() - done,
                             MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            done += n;
          }
        }
        shutdown(fd, SHUT_WR);
      });
    } catch (...) {  // std::thread throws system_error or bad_alloc
      LOG(WARNING) << "port-forward: pod=" << request_.pod_id
                   << ": cannot start a thread for a forward";
      (void)pair.error->Write("cradle cannot start a thread for this forward");
      shutdown(fd, SHUT_RDWR);  // the loop below ends at once
      pair.data->StopReading();
    }
    char buffer[32 * 1024];
    for (;;) {
      ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (!pair.data->Write(absl::string_view(buffer, n)).ok()) break;
    }
    pair.data->Close();
    pair.error->Close();
    // The pod hung up: the client's remaining input has nowhere to go.
    pair.data->StopReading();
    if (upstream.joinable()) upstream.join();
    {
      absl::MutexLock lock(&mu_);
      sockets_.erase(fd);
    }
    close(fd);
  }

  const PortForwardRequest request_;
  StreamingRuntime* const runtime_;
  const absl::Duration pairing_timeout_;
  absl::Mutex mu_;
  std::map<std::string, Pair> pending_ ABSL_GUARDED_BY(mu_);
  std::set<int> sockets_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::list<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
  std::set<std::thread::id> finished_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void ServePortForwardOverSpdy(int fd, std::string pending,
                              const PortForwardRequest& request,
                              StreamingRuntime* runtime,
                              const StreamTimeouts& timeouts,
                              std::function<void()> before_close) {
  spdy::Session session(fd, /*is_server=*/true, std::move(pending));
  // Destroyed before the session, which closes fd, however this returns.
  absl::Cleanup closing = [&before_close] {
    if (before_close) before_close();
  };
  {
    Forwarder forwarder(request, runtime, timeouts.creation);
    session.Serve(
        [&](std::shared_ptr<spdy::Stream> s) {
          forwarder.AddStream(std::move(s));
        },
        timeouts.idle);
  }  // the client hung up: every pump ends before the session goes
}

}  // namespace cradle::streaming
