// The pipes or terminal a container process (init or exec) talks through.
#ifndef CRADLE_SHIM_STDIO_H_
#define CRADLE_SHIM_STDIO_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "lite/status.h"
#include "runc_driver/runc.h"

namespace cradle::shim {

// Copies a containerd client's stdin (a FIFO or file) into the process's
// stdin pipe on a thread of its own, until the client's writer closes the
// FIFO (or the file ends), Close (CloseIO) or destruction.
class StdinCopier {
 public:
  // Takes both fds. ResourceExhausted when no thread can be had.
  static lite::StatusOr<std::unique_ptr<StdinCopier>> Start(int source,
                                                            int pipe_writer);
  ~StdinCopier();  // stops the thread, closes both fds
  StdinCopier(const StdinCopier&) = delete;
  StdinCopier& operator=(const StdinCopier&) = delete;
  // The process reads end-of-file once what was copied is read; the pipe
  // is closed by the copier's thread (it may be mid-write).
  void Close() { close_requested_ = true; }

 private:
  StdinCopier(int source, int sink) : source_(source), sink_(sink) {}
  void Run();

  const int source_;
  int sink_;  // the thread's alone once started
  std::atomic<bool> close_requested_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Copies a process's stdout and stderr pipes into a containerd client's
// FIFOs or files on a thread of its own, and closes each destination at
// its source's end of file, so the client reading the FIFO sees it end. A
// full FIFO holds the process back (as containerd's shim does), never the
// shim: waits are bounded and end with Stop or destruction.
class OutputCopier {
 public:
  // Takes every fd; -1 for a stream without one. ResourceExhausted when no
  // thread can be had.
  static lite::StatusOr<std::unique_ptr<OutputCopier>> Start(int out_source,
                                                             int out_sink,
                                                             int err_source,
                                                             int err_sink);
  ~OutputCopier();
  OutputCopier(const OutputCopier&) = delete;
  OutputCopier& operator=(const OutputCopier&) = delete;
  // The process exited: what is still in the pipes is copied for a
  // little while, then the copier ends even if a daemonized grandchild
  // keeps a pipe open. Returns at once (the reaper calls it).
  void ProcessExited();

 private:
  OutputCopier(int out_source, int out_sink, int err_source, int err_sink)
      : source_{out_source, err_source}, sink_{out_sink, err_sink} {}
  void Run();
  // Writes all of `data` to sink `i`, waiting while it is full; drops the
  // sink when it fails.
  void Write(int i, const char* data, size_t size);
  bool stopping();

  int source_[2];
  int sink_[2];
  std::atomic<int64_t> exited_at_ms_{0};  // steady clock; 0 while running
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The shim's ends. For a TTY, `master` is stdin and stdout at once and
// stdout/stderr are -1. Closes what it holds.
struct ProcessIo {
  int stdin_fd = -1;   // write end; -1 when the process has no stdin
  int stdout_fd = -1;  // read ends
  int stderr_fd = -1;
  int master = -1;  // the pty master, for a TTY
  // For a containerd client's stdio paths (OpenPathStdio): the copiers
  // own their fds and the ones above stay -1.
  std::unique_ptr<StdinCopier> stdin_copier;
  std::unique_ptr<OutputCopier> output_copier;
  // A TTY on a client's paths (OpenTerminalStdio): the pty master, kept
  // only to resize it; the copiers move its bytes through dups of their
  // own, and `master` stays -1 so nothing else reads it.
  int console = -1;
  ~ProcessIo();
  void CloseStdin();
  // Sets the window size of the TTY, if the process has one.
  void Resize(unsigned width, unsigned height);
  void ProcessExited() {
    if (output_copier != nullptr) output_copier->ProcessExited();
  }
};

// Stdio on a containerd client's paths (CreateTaskRequest.stdin, ...):
// each is "" (none: /dev/null), a FIFO (an output one held read-write so
// the process never gets EPIPE when the client detaches), or a file
// ("file://PATH" or a plain path; output is appended). The process gets pipes;
// copiers in `io` move the bytes. The caller closes `runc_side` once runc has
// run.
lite::Status OpenPathStdio(const std::string& stdin_path,
                           const std::string& stdout_path,
                           const std::string& stderr_path, ProcessIo* io,
                           Stdio* runc_side);

// A TTY on a containerd client's paths: copies `stdin_path` into the pty
// `master` and the master's output into `stdout_path` (either may be "";
// output is then read and dropped, so the process never blocks on a full
// terminal). A terminal has one output stream: there is no stderr path.
// Takes `master`, whatever the outcome. Closing stdin (CloseStdin, or the
// client's writer leaving) ends the copy only: a terminal has no
// half-close, so the process sees no end of input.
lite::Status OpenTerminalStdio(int master, const std::string& stdin_path,
                               const std::string& stdout_path, ProcessIo* io);

// Pipes for a process without a terminal. `runc_side` is what runc hands
// the process; the caller closes those fds once runc has run.
lite::Status MakePipes(bool with_stdin, ProcessIo* io, Stdio* runc_side);

// A unix socket runc sends the pty master to (--console-socket), accepted
// in the background while runc runs.
class ConsoleSocket {
 public:
  static lite::StatusOr<std::unique_ptr<ConsoleSocket>> Listen();
  ~ConsoleSocket();
  const std::string& path() const { return path_; }
  // Waits (bounded) for runc to hand over the master.
  lite::StatusOr<int> ReceiveMaster();
  // runc failed and will send nothing: makes a waiting ReceiveMaster return
  // at once (with an error) instead of timing out.
  void Abandon();

 private:
  ConsoleSocket() = default;
  std::string dir_;
  std::string path_;
  int listener_ = -1;
};

// Runs `run` (a runc create or exec) with the path of a fresh console
// socket for its --console-socket, receiving the pty master runc hands over
// there meanwhile. Returns `run`'s status, or why it could not be run (no
// socket, no thread). `*master` gets the master, or why there is none; it
// is an error whenever the result is.
lite::Status RunWithConsole(
    const std::function<lite::Status(const std::string& console_socket)>& run,
    lite::StatusOr<int>* master);

// Sets the terminal size on a pty master.
void ResizeTerminal(int master, unsigned width, unsigned height);

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_STDIO_H_
