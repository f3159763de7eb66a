#include "cri/runtime/pod_streams.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cri/api/runtime/v1/cri.h"
#include "glog/logging.h"
#include "namespaces/pinned.h"

namespace cradle {
namespace {

// What the end of the client's stdin means.
enum class StdinEnd {
  kCloseStdin,  // the process's stdin closes too
  kDetach,      // the client leaves; the process keeps running
};

// Carries a command's stdio between the client and the shim until the
// shim reports the exit (exec), ends the stream (attach), or the client
// detaches. Returns the exit code when one came.
absl::StatusOr<std::optional<int>> Pump(ShimStream* stream, bool stdin,
                                        StdinEnd stdin_end, bool tty,
                                        streaming::CommandIo* io) {
  io->OnClientGone([stream] { stream->Cancel(); });
  std::thread input, resize;
  std::atomic<bool> detached{false};
  if (stdin) {
    input = std::thread([&] {
      std::string data;
      while (io->ReadStdin(&data)) {
        if (!stream->SendStdin(data).ok()) return;
      }
      if (stdin_end == StdinEnd::kCloseStdin) {
        stream->CloseStdin().IgnoreError();
      } else {
        detached = true;
        stream->Cancel();
      }
    });
  }
  if (tty) {
    resize = std::thread([&] {
      streaming::TerminalSize size;
      while (io->NextResize(&size)) {
        if (!stream->Resize(size.width, size.height).ok()) return;
      }
    });
  }
  std::optional<int> exit_code;
  bool client_gone = false;
  ShimStream::Output out;
  while (!client_gone && stream->Read(&out)) {
    if (out.kind == ShimStream::Output::kStdout) {
      client_gone |= !io->WriteStdout(out.data).ok();
    } else if (out.kind == ShimStream::Output::kStderr) {
      client_gone |= !io->WriteStderr(out.data).ok();
    } else if (out.kind == ShimStream::Output::kExit) {
      exit_code = out.exit_code;
      break;
    }
  }
  // The shim kills an exec whose stream is cancelled.
  if (client_gone) stream->Cancel();
  io->StopInput();
  if (input.joinable()) input.join();
  if (resize.joinable()) resize.join();
  if (exit_code.has_value() || detached) return exit_code;
  if (client_gone) return absl::CancelledError("the client went away");
  return std::optional<int>();
}

absl::StatusOr<int> ConnectLoopback(int32_t port) {
  std::string why;
  for (int family : {AF_INET, AF_INET6}) {
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage address{};
    socklen_t length;
    if (family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&address);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&address);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      a->sin6_addr = in6addr_loopback;
      length = sizeof(*a);
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), length) == 0) {
      return fd;
    }
    if (why.empty()) why = strerror(errno);
    close(fd);
  }
  return absl::UnavailableError(absl::StrCat(
      "nothing accepts connections on localhost:", port, " (", why, ")"));
}

}  // namespace

absl::StatusOr<PodStreams::Target> PodStreams::Find(const std::string& id) {
  absl::StatusOr<CriContainer> c = containers_->Get(id);
  if (!c.ok()) return c.status();
  absl::StatusOr<ShimRef> shim = shims_->Get(c->pod_id);
  if (!shim.ok()) return shim.status();
  return Target{*std::move(c), *shim};
}

absl::StatusOr<int> PodStreams::Exec(const streaming::ExecOptions& options,
                                     streaming::CommandIo* io) {
  absl::StatusOr<Target> t = Find(options.container_id);
  if (!t.ok()) return t.status();
  const CriContainer* c = &t->container;
  shim::ExecStart start;
  start.container_id = c->id;
  start.args = options.cmd;
  start.tty = options.tty;
  start.stdin = options.stdin;
  absl::StatusOr<std::unique_ptr<ShimStream>> stream = t->shim->Exec(start);
  if (!stream.ok()) return stream.status();
  VLOG(1) << "container=" << c->id << " streaming exec "
          << (options.cmd.empty() ? "" : options.cmd[0]);
  absl::StatusOr<std::optional<int>> code = Pump(
      stream->get(), options.stdin, StdinEnd::kCloseStdin, options.tty, io);
  if (!code.ok()) return code.status();
  if (!code->has_value()) {
    return absl::InternalError("the shim ended the exec without an exit code");
  }
  return **code;
}

absl::Status PodStreams::Attach(const streaming::AttachOptions& options,
                                streaming::CommandIo* io) {
  absl::StatusOr<Target> t = Find(options.container_id);
  if (!t.ok()) return t.status();
  const CriContainer* c = &t->container;
  absl::StatusOr<std::unique_ptr<ShimStream>> stream = t->shim->Attach(c->id);
  if (!stream.ok()) return stream.status();
  VLOG(1) << "container=" << c->id << " attach";
  // As with containerd: when the client's stdin ends, a stdin_once
  // container without a terminal gets its stdin closed (and the attach
  // lasts until it exits); any other container keeps running, detached.
  runtime::v1::ContainerConfig config;
  config.ParseFromString(c->config);
  StdinEnd stdin_end = config.stdin_once() && !config.tty()
                           ? StdinEnd::kCloseStdin
                           : StdinEnd::kDetach;
  absl::StatusOr<std::optional<int>> code =
      Pump(stream->get(), options.stdin, stdin_end, options.tty, io);
  return code.status();
}

absl::StatusOr<int> PodStreams::DialPod(const std::string& pod_id,
                                        int32_t port) {
  absl::StatusOr<PodRecord> pod = sandboxes_->Get(pod_id);
  if (!pod.ok()) return pod.status();
  if (pod->netns_path.empty()) return ConnectLoopback(port);  // host network
  // Sockets belong to the namespace they are made in.
  absl::StatusOr<int> result = absl::InternalError("not dialled");
  absl::Status entered = RunInNetworkNamespace(
      pod->netns_path, [&] { result = ConnectLoopback(port); });
  if (!entered.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("pod ", pod_id, ": ", entered.message()));
  }
  return result;
}

}  // namespace cradle
