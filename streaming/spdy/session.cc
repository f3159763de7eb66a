#include "streaming/spdy/session.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace cradle::spdy {
namespace {

// Big enough to keep frames few, small enough to interleave streams.
constexpr size_t kMaxDataFrame = 32 * 1024;

}  // namespace

bool Stream::Read(std::string* data) {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](Stream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
        return !s->incoming_.empty() || s->remote_done_;
      },
      this));
  if (incoming_.empty()) return false;
  *data = std::move(incoming_.front());
  incoming_.pop_front();
  return true;
}

absl::Status Stream::Write(absl::string_view data) {
  {
    absl::MutexLock lock(&mu_);
    if (local_done_) {
      return absl::FailedPreconditionError(
          absl::StrCat("stream ", id_, " is closed"));
    }
  }
  do {
    Frame frame;
    frame.stream_id = id_;
    frame.data = std::string(data.substr(0, kMaxDataFrame));
    data.remove_prefix(frame.data.size());
    if (absl::Status s = session_->Send(frame); !s.ok()) return s;
  } while (!data.empty());
  return absl::OkStatus();
}

void Stream::Close() {
  bool over;
  {
    absl::MutexLock lock(&mu_);
    if (local_done_) return;
    local_done_ = true;
    over = remote_done_;
  }
  Frame frame;
  frame.stream_id = id_;
  frame.flags = kFlagFin;
  (void)session_->Send(frame);
  if (over) session_->Forget(id_);
}

void Stream::Reset() {
  {
    absl::MutexLock lock(&mu_);
    if (local_done_ && remote_done_) return;
    local_done_ = true;
    remote_done_ = true;
  }
  Frame frame;
  frame.type = FrameType::kRstStream;
  frame.stream_id = id_;
  frame.value = kRstCancel;
  (void)session_->Send(frame);
  session_->Forget(id_);
}

void Stream::StopReading() {
  bool over;
  {
    absl::MutexLock lock(&mu_);
    remote_done_ = true;
    incoming_.clear();
    over = local_done_;
  }
  if (over) session_->Forget(id_);
}

void Stream::Deliver(std::string data, bool fin) {
  absl::MutexLock lock(&mu_);
  if (remote_done_) return;
  if (!data.empty()) incoming_.push_back(std::move(data));
  if (fin) remote_done_ = true;
  // Forgotten before the lock wakes a reader: once Read reports the end, the
  // session no longer counts the stream. (Session::mu_ never nests inside.)
  if (remote_done_ && local_done_) session_->Forget(id_);
}

void Stream::EndRemote(bool reset) {
  absl::MutexLock lock(&mu_);
  remote_done_ = true;
  replied_ = true;  // wakes an Open waiting for a reply that cannot come
  if (reset) local_done_ = true;
}

Session::Session(int fd, bool is_server, std::string pending)
    : fd_(fd),
      is_server_(is_server),
      pending_(std::move(pending)),
      next_id_(is_server ? 2 : 1) {}

Session::~Session() {
  EndAll();
  close(fd_);
}

absl::Status Session::Send(const Frame& frame) {
  absl::MutexLock lock(&write_mu_);
  if (write_closed_) return absl::UnavailableError("the connection is closed");
  std::string bytes = framer_.Encode(frame);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      write_closed_ = true;
      return absl::UnavailableError(
          absl::StrCat("the connection broke: ", strerror(errno)));
    }
    done += n;
  }
  Touch();
  return absl::OkStatus();
}

void Session::Touch() { last_active_ = absl::ToUnixNanos(absl::Now()); }

bool Session::WaitReadable(absl::Duration idle) {
  for (;;) {
    absl::Duration left =
        idle - (absl::Now() - absl::FromUnixNanos(last_active_.load()));
    if (left <= absl::ZeroDuration()) return false;
    int timeout = left >= absl::Hours(24)
                      ? -1
                      : static_cast<int>(absl::ToInt64Milliseconds(
                            left + absl::Milliseconds(1)));
    pollfd p{fd_, POLLIN, 0};
    int ready = poll(&p, 1, timeout);
    // Readable, hung up or broken: read() tells which.
    if (ready > 0 || (ready < 0 && errno != EINTR)) return true;
  }
}

void Session::EndAll() {
  std::map<uint32_t, std::shared_ptr<Stream>> streams;
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    streams.swap(streams_);
  }
  for (auto& [id, stream] : streams) stream->EndRemote(/*reset=*/true);
}

void Session::Forget(uint32_t id) {
  absl::MutexLock lock(&mu_);
  streams_.erase(id);
}

size_t Session::open_streams() {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

bool Session::ended() {
  absl::MutexLock lock(&mu_);
  return ended_;
}

void Session::Serve(std::function<void(std::shared_ptr<Stream>)> on_stream,
                    absl::Duration idle) {
  std::string buffer = std::move(pending_);
  char chunk[64 * 1024];
  Touch();
  for (;;) {
    absl::StatusOr<std::optional<Frame>> parsed = framer_.Parse(&buffer);
    if (!parsed.ok()) {
      LOG(WARNING) << "spdy: " << parsed.status().message()
                   << "; closing the connection";
      break;
    }
    if (!parsed->has_value()) {
      if (!WaitReadable(idle)) {
        LOG(INFO) << "spdy: no frame for " << absl::FormatDuration(idle)
                  << "; closing the idle connection";
        // Also frees a writer stuck on a peer that stopped reading.
        shutdown(fd_, SHUT_RDWR);
        break;
      }
      ssize_t n = read(fd_, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buffer.append(chunk, n);
      Touch();
      continue;
    }
    Frame& frame = **parsed;
    std::shared_ptr<Stream> stream;
    {
      absl::MutexLock lock(&mu_);
      auto it = streams_.find(frame.stream_id);
      if (it != streams_.end()) stream = it->second;
    }
    switch (frame.type) {
      case FrameType::kSynStream: {
        bool wrong = stream != nullptr || frame.stream_id == 0 ||
                     (frame.stream_id % 2 == 0) == is_server_;
        if (wrong || open_streams() >= kMaxOpenStreams) {
          if (!wrong) {
            LOG_EVERY_N(WARNING, 100)
                << "spdy: peer has " << kMaxOpenStreams
                << " streams open; refusing stream " << frame.stream_id;
          }
          Frame reset;
          reset.type = FrameType::kRstStream;
          reset.stream_id = frame.stream_id;
          reset.value = wrong ? kRstProtocolError : kRstRefusedStream;
          (void)Send(reset);
          break;
        }
        stream = std::make_shared<Stream>(this, frame.stream_id,
                                          std::move(frame.headers));
        {
          absl::MutexLock lock(&stream->mu_);
          stream->replied_ = true;
          if (frame.fin()) stream->remote_done_ = true;
        }
        {
          absl::MutexLock lock(&mu_);
          streams_[frame.stream_id] = stream;
        }
        Frame reply;
        reply.type = FrameType::kSynReply;
        reply.stream_id = frame.stream_id;
        (void)Send(reply);
        if (on_stream) on_stream(stream);
        break;
      }
      case FrameType::kSynReply:
        if (stream != nullptr) {
          absl::MutexLock lock(&stream->mu_);
          stream->replied_ = true;
          stream->reply_received_ = true;
          if (frame.fin()) stream->remote_done_ = true;
        }
        break;
      case FrameType::kData:
        if (stream != nullptr)
          stream->Deliver(std::move(frame.data), frame.fin());
        break;
      case FrameType::kHeaders:
        if (stream != nullptr && frame.fin()) stream->Deliver("", true);
        break;
      case FrameType::kRstStream:
        if (stream != nullptr) {
          {
            absl::MutexLock lock(&mu_);
            streams_.erase(frame.stream_id);
          }
          stream->EndRemote(/*reset=*/true);
        }
        break;
      case FrameType::kPing:
        // Echo the peer's pings; ours come back with our parity.
        if ((frame.value % 2 == 0) != is_server_) (void)Send(frame);
        break;
      case FrameType::kGoAway:
        VLOG(1) << "spdy: peer said goodbye";
        break;
      default:
        break;  // SETTINGS, WINDOW_UPDATE: nothing to do without flow control
    }
  }
  {
    absl::MutexLock lock(&write_mu_);
    write_closed_ = true;
    // Nothing more will be sent: tell the peer now rather than at close, so
    // a peer lingering in Shutdown is not kept waiting.
    shutdown(fd_, SHUT_WR);
  }
  EndAll();
}

absl::StatusOr<std::shared_ptr<Stream>> Session::Open(const Headers& headers,
                                                      absl::Duration timeout) {
  std::shared_ptr<Stream> stream;
  {
    absl::MutexLock lock(&mu_);
    if (ended_) return absl::UnavailableError("the connection is closed");
    stream = std::make_shared<Stream>(this, next_id_, headers);
    next_id_ += 2;
    streams_[stream->id()] = stream;
  }
  Frame syn;
  syn.type = FrameType::kSynStream;
  syn.stream_id = stream->id();
  syn.headers = headers;
  if (absl::Status s = Send(syn); !s.ok()) return s;
  absl::MutexLock lock(&stream->mu_);
  bool replied =
      stream->mu_.AwaitWithTimeout(absl::Condition(&stream->replied_), timeout);
  if (!replied) {
    return absl::DeadlineExceededError(
        absl::StrCat("no reply to stream ", stream->id(), " within ",
                     absl::FormatDuration(timeout)));
  }
  if (!stream->reply_received_) {
    return absl::UnavailableError(
        absl::StrCat("stream ", stream->id(), " was refused"));
  }
  return stream;
}

void Session::Shutdown(absl::Duration linger) {
  Frame goaway;
  goaway.type = FrameType::kGoAway;
  (void)Send(goaway);
  shutdown(fd_, SHUT_WR);
  absl::MutexLock lock(&mu_);
  if (!mu_.AwaitWithTimeout(absl::Condition(&ended_), linger)) {
    shutdown(fd_, SHUT_RDWR);
  }
}

void Session::Abort() { shutdown(fd_, SHUT_RDWR); }

}  // namespace cradle::spdy
