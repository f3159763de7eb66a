#include "streaming/websocket.h"

#include <errno.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "streaming/gone_callback.h"

namespace cradle::streaming {
namespace {

// RFC 6455's fixed GUID for the accept hash.
constexpr char kAcceptGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr absl::Duration kLinger = absl::Seconds(5);

enum Channel : uint8_t {
  kStdin = 0,
  kStdout = 1,
  kStderr = 2,
  kError = 3,
  kResize = 4,
  kCloseSignal = 255,  // v5: the byte after it names a channel to close
};

}  // namespace

const std::vector<std::string>& WebSocketCommandProtocols() {
  static const auto* const protocols = new std::vector<std::string>{
      kWebSocketProtocolV5, kWebSocketProtocolV4, kWebSocketProtocolV1};
  return *protocols;
}

std::string WebSocketAccept(absl::string_view key) {
  std::string text = absl::StrCat(key, kAcceptGuid);
  unsigned char hash[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), hash);
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<char*>(hash), sizeof(hash)));
}

WebSocket::WebSocket(int fd, bool is_server, std::string pending,
                     absl::Duration idle)
    : fd_(fd),
      is_server_(is_server),
      idle_(idle),
      buffer_(std::move(pending)),
      last_active_(absl::ToUnixNanos(absl::Now())) {}

WebSocket::~WebSocket() { close(fd_); }

bool WebSocket::Fill() {
  char chunk[64 * 1024];
  for (;;) {
    absl::Duration left =
        idle_ - (absl::Now() - absl::FromUnixNanos(last_active_.load()));
    if (left <= absl::ZeroDuration()) {
      LOG(INFO) << "websocket: nothing for " << absl::FormatDuration(idle_)
                << "; closing the idle connection";
      // Also frees a writer stuck on a peer that stopped reading.
      shutdown(fd_, SHUT_RDWR);
      return false;
    }
    int timeout = left >= absl::Hours(24)
                      ? -1
                      : static_cast<int>(absl::ToInt64Milliseconds(
                            left + absl::Milliseconds(1)));
    pollfd p{fd_, POLLIN, 0};
    int ready = poll(&p, 1, timeout);
    if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
    ssize_t got = read(fd_, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    buffer_.append(chunk, got);
    last_active_ = absl::ToUnixNanos(absl::Now());
    return true;
  }
}

std::optional<WsFrame> WebSocket::ReadFrame() {
  for (;;) {
    absl::StatusOr<std::optional<WsFrame>> frame =
        ParseWsFrame(&buffer_, /*masked=*/is_server_);
    if (!frame.ok()) {
      LOG(WARNING) << "websocket: " << frame.status().message()
                   << "; closing the connection";
      Close(WsCloseCodeFor(frame.status()));
      return std::nullopt;
    }
    if (frame->has_value()) return *std::move(*frame);
    if (!Fill()) return std::nullopt;
  }
}

bool WebSocket::Read(std::string* message) {
  message->clear();
  bool in_message = false;
  while (std::optional<WsFrame> frame = ReadFrame()) {
    switch (frame->opcode) {
      case WsOpcode::kPing:
        (void)Write(WsOpcode::kPong, frame->payload);
        continue;
      case WsOpcode::kPong:
        continue;
      case WsOpcode::kClose:
        Close();
        return false;
      default:
        break;
    }
    // A continuation belongs to a message begun; a new message must not
    // start inside one.
    if ((frame->opcode == WsOpcode::kContinuation) != in_message) {
      LOG(WARNING) << "websocket: fragments out of order; closing";
      Close(kWsCloseProtocolError);
      return false;
    }
    if (message->size() + frame->payload.size() > kMaxWsMessage) {
      LOG(WARNING) << "websocket: a message over " << kMaxWsMessage
                   << " bytes; closing";
      Close(kWsCloseTooBig);
      return false;
    }
    *message += frame->payload;
    if (frame->fin) return true;
    in_message = true;
  }
  return false;
}

absl::Status WebSocket::Write(WsOpcode opcode, absl::string_view payload) {
  std::string frame = EncodeWsFrame(opcode, payload, /*mask=*/!is_server_);
  absl::MutexLock lock(&write_mu_);
  if (close_sent_) return absl::UnavailableError("the websocket is closed");
  if (opcode == WsOpcode::kClose) close_sent_ = true;
  if (!WriteAll(fd_, frame)) {
    close_sent_ = true;
    return absl::UnavailableError("the websocket connection broke");
  }
  last_active_ = absl::ToUnixNanos(absl::Now());
  return absl::OkStatus();
}

void WebSocket::Close(uint16_t code) {
  char payload[2] = {static_cast<char>(code >> 8),
                     static_cast<char>(code & 0xff)};
  (void)Write(WsOpcode::kClose, absl::string_view(payload, 2));
}

void WebSocket::Abort() { shutdown(fd_, SHUT_RDWR); }

namespace {

class WebSocketCommandIo final : public CommandIo {
 public:
  WebSocketCommandIo(WebSocket* ws, bool v5) : ws_(ws), v5_(v5) {}

  // The connection thread: routes the client's messages until it leaves.
  void ReadUntilGone() {
    std::string message;
    while (ws_->Read(&message)) {
      if (message.empty()) continue;
      uint8_t channel = static_cast<uint8_t>(message[0]);
      absl::MutexLock lock(&mu_);
      if (channel == kStdin && !stdin_closed_) {
        if (message.size() > 1) stdin_.push_back(message.substr(1));
      } else if (channel == kResize) {
        resize_.push_back(message.substr(1));
      } else if (channel == kCloseSignal && v5_ && message.size() > 1 &&
                 static_cast<uint8_t>(message[1]) == kStdin) {
        stdin_closed_ = true;
      }
    }
    {
      absl::MutexLock lock(&mu_);
      gone_ = true;
    }
    on_gone_.ClientGone();
  }

  void CommandDone() { on_gone_.CommandDone(); }

  bool WaitGone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&gone_), timeout);
  }

  void SendResult(const std::string& message) {
    if (!message.empty()) (void)Send(kError, message);
  }

  bool ReadStdin(std::string* data) override {
    return Take(&stdin_, &stdin_closed_, data);
  }

  bool NextResize(TerminalSize* size) override {
    std::string text;
    while (Take(&resize_, nullptr, &text)) {
      if (ParseTerminalSize(text, size)) return true;
    }
    return false;
  }

  absl::Status WriteStdout(absl::string_view data) override {
    return Send(kStdout, data);
  }
  absl::Status WriteStderr(absl::string_view data) override {
    return Send(kStderr, data);
  }

  void StopInput() override {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
  }

  void OnClientGone(std::function<void()> callback) override {
    on_gone_.Set(std::move(callback));
  }

 private:
  absl::Status Send(uint8_t channel, absl::string_view data) {
    std::string message(1, static_cast<char>(channel));
    message.append(data.data(), data.size());
    return ws_->Write(WsOpcode::kBinary, message);
  }

  // Blocks for the next queued message; false once the queue is over.
  bool Take(std::deque<std::string>* queue, bool* closed, std::string* out) {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !queue->empty() || stopped_ || gone_ ||
             (closed != nullptr && *closed);
    };
    mu_.Await(absl::Condition(&ready));
    if (stopped_ || queue->empty()) return false;
    *out = std::move(queue->front());
    queue->pop_front();
    return true;
  }

  WebSocket* const ws_;
  const bool v5_;
  GoneCallback on_gone_;
  absl::Mutex mu_;
  std::deque<std::string> stdin_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> resize_ ABSL_GUARDED_BY(mu_);
  bool stdin_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool gone_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

void ServeCommandOverWebSocket(int fd, std::string pending,
                               const std::string& protocol,
                               const CommandRequest& request,
                               StreamingRuntime* runtime,
                               const StreamTimeouts& timeouts,
                               std::function<void()> before_close) {
  WebSocket ws(fd, /*is_server=*/true, std::move(pending), timeouts.idle);
  // Destroyed before ws, which closes fd, however this returns.
  absl::Cleanup closing = [&before_close] {
    if (before_close) before_close();
  };
  WebSocketCommandIo io(&ws, protocol == kWebSocketProtocolV5);
  std::thread command;
  try {
    command = std::thread([&] {
      absl::StatusOr<int> result = RunCommand(request, runtime, &io);
      io.CommandDone();
      // v1 of the channel protocol has plain-text errors, like SPDY's v2/v3.
      io.SendResult(CommandResultMessage(protocol == kWebSocketProtocolV1
                                             ? kStreamProtocolV2
                                             : kStreamProtocolV4,
                                         request, result));
      ws.Close();
      if (!io.WaitGone(kLinger)) ws.Abort();
    });
  } catch (...) {  // std::thread throws system_error or bad_alloc
    LOG(WARNING) << "websocket: cannot start the command's thread; closing "
                    "the connection";
    return;  // ws closes fd
  }
  io.ReadUntilGone();
  command.join();
}

}  // namespace cradle::streaming
