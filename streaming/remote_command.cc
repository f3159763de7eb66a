#include "streaming/remote_command.h"

#include <memory>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"
#include "streaming/gone_callback.h"
#include "streaming/spdy/session.h"

namespace cradle::streaming {
namespace {

// After the result is sent, how long the client gets to hang up.
constexpr absl::Duration kLinger = absl::Seconds(5);

// Splits the resize stream's JSON objects (one per line) out of the bytes
// as they arrive.
bool NextSize(std::string* buffer, TerminalSize* size) {
  for (;;) {
    size_t end = buffer->find('\n');
    if (end == std::string::npos) return false;
    bool parsed = ParseTerminalSize(buffer->substr(0, end), size);
    buffer->erase(0, end + 1);
    if (parsed) return true;
  }
}

class SpdyCommandIo final : public CommandIo {
 public:
  // The streams the request promises the client will open.
  SpdyCommandIo(const CommandRequest& request, bool resize,
                absl::Duration creation_timeout)
      : creation_timeout_(creation_timeout),
        expected_(1 + request.stdin() + request.stdout() +
                  (request.stderr() && !request.tty()) +
                  (request.tty() && resize)) {}

  // On the session's reading thread: must not block.
  void AddStream(std::shared_ptr<spdy::Stream> stream) {
    std::string type = absl::AsciiStrToLower(stream->Header("streamtype"));
    absl::MutexLock lock(&mu_);
    std::shared_ptr<spdy::Stream>* slot = nullptr;
    if (type == "error") slot = &error_;
    if (type == "stdin") slot = &stdin_;
    if (type == "stdout") slot = &stdout_;
    if (type == "stderr") slot = &stderr_;
    if (type == "resize") slot = &resize_;
    if (slot == nullptr || *slot != nullptr) {
      LOG(WARNING) << "streaming: unexpected stream type '" << type << "'";
      stream->Reset();
      return;
    }
    *slot = std::move(stream);
    ++received_;
  }

  // Whether every promised stream came before the timeout or the client
  // left.
  bool WaitForStreams() {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return received_ >= expected_ || gone_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), creation_timeout_);
    return received_ >= expected_ && error_ != nullptr;
  }

  void ClientGone() {
    {
      absl::MutexLock lock(&mu_);
      gone_ = true;
    }
    on_gone_.ClientGone();
  }

  void CommandDone() { on_gone_.CommandDone(); }

  // Ends the output streams, then reports the result on the error stream.
  void Finish(const std::string& message) {
    for (spdy::Stream* s : {stdout_.get(), stderr_.get()}) {
      if (s != nullptr) s->Close();
    }
    if (error_ != nullptr) {
      if (!message.empty()) (void)error_->Write(message);
      error_->Close();
    }
  }

  bool ReadStdin(std::string* data) override {
    if (stdin_ == nullptr) return false;
    return stdin_->Read(data);
  }

  bool NextResize(TerminalSize* size) override {
    if (resize_ == nullptr) return false;
    while (!NextSize(&resize_buffer_, size)) {
      std::string chunk;
      if (!resize_->Read(&chunk)) return false;
      resize_buffer_ += chunk;
    }
    return true;
  }

  absl::Status WriteStdout(absl::string_view data) override {
    if (stdout_ == nullptr) return absl::OkStatus();  // not asked for
    return stdout_->Write(data);
  }

  absl::Status WriteStderr(absl::string_view data) override {
    // With a TTY there is no stderr stream; output is merged upstream.
    if (stderr_ == nullptr) return absl::OkStatus();
    return stderr_->Write(data);
  }

  void StopInput() override {
    for (spdy::Stream* s : {stdin_.get(), resize_.get()}) {
      if (s != nullptr) s->StopReading();
    }
  }

  void OnClientGone(std::function<void()> callback) override {
    on_gone_.Set(std::move(callback));
  }

 private:
  const absl::Duration creation_timeout_;
  const int expected_;
  GoneCallback on_gone_;
  absl::Mutex mu_;
  int received_ ABSL_GUARDED_BY(mu_) = 0;
  bool gone_ ABSL_GUARDED_BY(mu_) = false;
  // Set on the reading thread before WaitForStreams returns; read-only
  // afterwards.
  std::shared_ptr<spdy::Stream> error_, stdin_, stdout_, stderr_, resize_;
  std::string resize_buffer_;
};

}  // namespace

const std::vector<std::string>& SpdyCommandProtocols() {
  static const auto* const protocols = new std::vector<std::string>{
      kStreamProtocolV4, kStreamProtocolV3, kStreamProtocolV2};
  return *protocols;
}

absl::StatusOr<int> RunCommand(const CommandRequest& request,
                               StreamingRuntime* runtime, CommandIo* io) {
  // This runs on a thread of its own: a throw would end the daemon.
  try {
    if (request.is_exec) return runtime->Exec(request.exec, io);
    absl::Status attached = runtime->Attach(request.attach, io);
    if (!attached.ok()) return attached;
    return 0;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("the runtime failed: ", e.what()));
  }
}

bool ParseTerminalSize(absl::string_view json, TerminalSize* size) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return false;
  // Checked by hand, not with value<int>(): that throws on a string and
  // wraps a huge number, and this runs on a command's thread.
  auto dimension = [&j](const char* key) -> int {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return 0;
    int64_t v = it->get<int64_t>();
    return v >= 1 && v <= 65535 ? static_cast<int>(v) : 0;
  };
  int width = dimension("Width"), height = dimension("Height");
  if (width == 0 || height == 0) return false;
  size->width = width;
  size->height = height;
  return true;
}

std::string CommandResultMessage(const std::string& protocol,
                                 const CommandRequest& request,
                                 const absl::StatusOr<int>& result) {
  std::string what =
      request.is_exec
          ? absl::StrCat("command [", absl::StrJoin(request.exec.cmd, " "), "]")
          : absl::StrCat("attach to ", request.attach.container_id);
  std::string message;
  if (!result.ok()) {
    message = absl::StrCat(what, " failed: ", result.status().message());
  } else if (*result != 0) {
    message = absl::StrCat("command terminated with non-zero exit code: ", what,
                           " exited with code ", *result);
  }
  if (protocol != kStreamProtocolV4) return message;

  nlohmann::json status = {{"metadata", nlohmann::json::object()}};
  if (message.empty()) {
    status["status"] = "Success";
  } else if (result.ok()) {
    status["status"] = "Failure";
    status["message"] = message;
    status["reason"] = "NonZeroExitCode";
    status["details"] = {
        {"causes",
         {{{"reason", "ExitCode"}, {"message", absl::StrCat(*result)}}}}};
  } else {
    status["status"] = "Failure";
    status["message"] = message;
    status["reason"] = "InternalError";
    status["code"] = 500;
    status["details"] = {{"causes", {{{"message", message}}}}};
  }
  // The message may quote runtime output that is not UTF-8; strict dump()
  // would throw on it.
  return status.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void ServeCommandOverSpdy(int fd, std::string pending,
                          const std::string& protocol,
                          const CommandRequest& request,
                          StreamingRuntime* runtime,
                          const StreamTimeouts& timeouts,
                          std::function<void()> before_close) {
  spdy::Session session(fd, /*is_server=*/true, std::move(pending));
  // Destroyed before the session, which closes fd, however this returns.
  absl::Cleanup closing = [&before_close] {
    if (before_close) before_close();
  };
  SpdyCommandIo io(request, /*resize=*/protocol != kStreamProtocolV2,
                   timeouts.creation);
  std::thread command;
  try {
    command = std::thread([&] {
      if (!io.WaitForStreams()) {
        LOG(WARNING) << "streaming: the client did not open its streams";
        io.Finish(CommandResultMessage(
            protocol, request,
            absl::DeadlineExceededError(
                "timed out waiting for the client to create streams")));
        session.Abort();
        return;
      }
      absl::StatusOr<int> result = RunCommand(request, runtime, &io);
      io.CommandDone();
      io.Finish(CommandResultMessage(protocol, request, result));
      session.Shutdown(kLinger);
    });
  } catch (...) {  // std::thread throws system_error or bad_alloc
    LOG(WARNING) << "streaming: cannot start the command's thread; closing "
                    "the connection";
    return;  // the session closes fd
  }
  session.Serve(
      [&](std::shared_ptr<spdy::Stream> s) { io.AddStream(std::move(s)); },
      timeouts.idle);
  io.ClientGone();
  command.join();
}

}  // namespace cradle::streaming
