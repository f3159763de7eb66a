#include "streaming/websocket.h"

#include <errno.h>
#include <openssl/sha.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "streaming/gone_callback.h"

namespace cradle::streaming {
namespace {

// RFC 6455's fixed GUID for the accept hash.
constexpr char kAcceptGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr uint64_t kMaxMessage = 16 << 20;
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

WebSocket::WebSocket(int fd, bool is_server, std::string pending)
    : fd_(fd), is_server_(is_server), buffer_(std::move(pending)) {}

WebSocket::~WebSocket() { close(fd_); }

bool WebSocket::Fill(size_t n) {
  char chunk[64 * 1024];
  while (buffer_.size() < n) {
    ssize_t got = read(fd_, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    buffer_.append(chunk, got);
  }
  return true;
}

bool WebSocket::ReadFrame(bool* fin, WsOpcode* opcode, std::string* payload) {
  if (!Fill(2)) return false;
  auto byte = [this](size_t i) { return static_cast<uint8_t>(buffer_[i]); };
  *fin = (byte(0) & 0x80) != 0;
  *opcode = static_cast<WsOpcode>(byte(0) & 0x0f);
  bool masked = (byte(1) & 0x80) != 0;
  uint64_t length = byte(1) & 0x7f;
  size_t at = 2;
  if (length == 126) {
    if (!Fill(4)) return false;
    length = (uint64_t{byte(2)} << 8) | byte(3);
    at = 4;
  } else if (length == 127) {
    if (!Fill(10)) return false;
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | byte(2 + i);
    at = 10;
  }
  if (length > kMaxMessage || masked != is_server_) return false;
  uint8_t mask[4] = {0, 0, 0, 0};
  if (masked) {
    if (!Fill(at + 4)) return false;
    for (int i = 0; i < 4; ++i) mask[i] = byte(at + i);
    at += 4;
  }
  if (!Fill(at + length)) return false;
  payload->assign(buffer_, at, length);
  for (size_t i = 0; masked && i < payload->size(); ++i) {
    (*payload)[i] = static_cast<char>((*payload)[i] ^ mask[i % 4]);
  }
  buffer_.erase(0, at + length);
  return true;
}

bool WebSocket::Read(std::string* message) {
  message->clear();
  bool fin = false;
  WsOpcode opcode;
  std::string payload;
  while (ReadFrame(&fin, &opcode, &payload)) {
    switch (opcode) {
      case WsOpcode::kPing:
        (void)Write(WsOpcode::kPong, payload);
        continue;
      case WsOpcode::kPong:
        continue;
      case WsOpcode::kClose:
        Close();
        return false;
      default:
        *message += payload;
        if (message->size() > kMaxMessage) return false;
        if (fin) return true;
    }
  }
  return false;
}

absl::Status WebSocket::Write(WsOpcode opcode, absl::string_view payload) {
  std::string frame;
  frame.push_back(static_cast<char>(0x80 | static_cast<uint8_t>(opcode)));
  uint8_t mask_bit = is_server_ ? 0 : 0x80;
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(mask_bit | payload.size()));
  } else if (payload.size() <= 0xffff) {
    frame.push_back(static_cast<char>(mask_bit | 126));
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    frame.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      frame.push_back(
          static_cast<char>((uint64_t{payload.size()} >> shift) & 0xff));
    }
  }
  if (is_server_) {
    frame.append(payload.data(), payload.size());
  } else {
    char mask[4];
    (void)!getrandom(mask, sizeof(mask), 0);
    frame.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) {
      frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    }
  }
  absl::MutexLock lock(&write_mu_);
  if (close_sent_) return absl::UnavailableError("the websocket is closed");
  if (opcode == WsOpcode::kClose) close_sent_ = true;
  if (!WriteAll(fd_, frame)) {
    close_sent_ = true;
    return absl::UnavailableError("the websocket connection broke");
  }
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
                               StreamingRuntime* runtime) {
  WebSocket ws(fd, /*is_server=*/true, std::move(pending));
  WebSocketCommandIo io(&ws, protocol == kWebSocketProtocolV5);
  std::thread command([&] {
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
  io.ReadUntilGone();
  command.join();
}

}  // namespace cradle::streaming
