// The pipes or terminal a container process (init or exec) talks through.
#ifndef CRADLE_SHIM_STDIO_H_
#define CRADLE_SHIM_STDIO_H_

#include <memory>
#include <string>
#include <thread>

#include "lite/status.h"
#include "runc_driver/runc.h"

namespace cradle::shim {

// The shim's ends. For a TTY, `master` is stdin and stdout at once and
// stdout/stderr are -1. Closes what it holds.
struct ProcessIo {
  int stdin_fd = -1;   // write end; -1 when the process has no stdin
  int stdout_fd = -1;  // read ends
  int stderr_fd = -1;
  int master = -1;  // the pty master, for a TTY
  ~ProcessIo();
  void CloseStdin();
};

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

// Sets the terminal size on a pty master.
void ResizeTerminal(int master, unsigned width, unsigned height);

}  // namespace cradle::shim

#endif  // CRADLE_SHIM_STDIO_H_
