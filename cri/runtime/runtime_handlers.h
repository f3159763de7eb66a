// The OCI runtimes pods can ask for by RuntimeClass handler name (runc,
// crun, ...), each with its own state dir and the daemon's own driver of
// it, for when a pod's shim cannot act (stopped or dead).
#ifndef CRADLE_CRI_RUNTIME_RUNTIME_HANDLERS_H_
#define CRADLE_CRI_RUNTIME_RUNTIME_HANDLERS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runc_driver/runc.h"

namespace cradle {

struct RuntimeHandlerConfig {
  std::string name;
  std::string binary;  // a path, or a name looked up in PATH
  std::string root;    // the runtime's --root
};

struct RuntimeHandler {
  std::string name;
  std::string binary;  // resolved; empty when not installed
  std::string root;
  std::string version;  // the first line of `<binary> --version`
  // Null when the runtime cannot be used; `unusable` says why.
  std::unique_ptr<Runc> runc;
  std::string unusable;
};

// Immutable after Open: thread-safe.
class RuntimeHandlers {
 public:
  // Probes each binary. A handler that is not installed stays listed as
  // unusable: a config naming crun works on a machine without it until a
  // pod asks for crun. The default is the first usable of `default_names`.
  // InvalidArgument when one of them is unknown, FailedPrecondition when
  // none is usable.
  static absl::StatusOr<std::unique_ptr<RuntimeHandlers>> Open(
      const std::vector<RuntimeHandlerConfig>& configs,
      const std::vector<std::string>& default_names, const std::string& log_dir,
      bool systemd_cgroup);
  const std::string& default_name() const { return default_name_; }

  // The handler a pod asks for ("" is the default). NotFound naming the
  // configured ones; FailedPrecondition when it is configured but unusable.
  absl::StatusOr<const RuntimeHandler*> Find(absl::string_view name) const;
  // For what a pod record names: its handler; runc for a record from
  // before handlers (those pods ran under runc); the default (always
  // usable) for one whose handler left the config or its binary the
  // machine. `runc` is never null.
  const RuntimeHandler& ForRecord(absl::string_view name) const;
  // The handler of pods that name none (always usable).
  const RuntimeHandler& Default() const;
  std::vector<const RuntimeHandler*> All() const;

 private:
  RuntimeHandlers() = default;
  std::map<std::string, RuntimeHandler, std::less<>> handlers_;
  std::string default_name_;
};

}  // namespace cradle

#endif  // CRADLE_CRI_RUNTIME_RUNTIME_HANDLERS_H_
