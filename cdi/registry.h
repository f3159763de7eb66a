// The CDI specs of a host: every spec file of a list of directories, read
// at one moment, and the resolution of device names against them.
#ifndef CRADLE_CDI_REGISTRY_H_
#define CRADLE_CDI_REGISTRY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cdi/spec.h"

namespace cradle::cdi {

// The CDI spec's default directories, lowest priority first.
const std::vector<std::string>& DefaultSpecDirs();

// Immutable once loaded; safe to share between threads.
class Registry {
 public:
  // Reads every *.json, *.yaml and *.yml file of `dirs` (each dir's files
  // by name). A device defined in a later dir replaces one of the same
  // name from an earlier dir; defined twice in one dir it is a conflict
  // and neither is used. A missing dir is no error. A file that cannot be
  // read or is not a valid spec is skipped and logged (ERROR, naming the
  // file and why); it never stops the other files from loading.
  static Registry Load(const std::vector<std::string>& dirs);

  // The edits that give a container `names` (fully qualified, repeats
  // ignored), in the order they are to be applied: for each spec its own
  // edits once, before those of its first device asked for. Nothing is
  // returned unless every name resolves. InvalidArgument for a name that
  // is not vendor.com/class=name; NotFound names the devices no spec
  // defines and the dirs searched (and the files skipped as invalid);
  // FailedPrecondition for a device defined twice in one dir.
  absl::StatusOr<std::vector<ContainerEdits>> Resolve(
      const std::vector<std::string>& names) const;

  // "file: why" for each file skipped.
  const std::vector<std::string>& errors() const { return errors_; }
  // The fully qualified names of the usable devices, sorted.
  std::vector<std::string> DeviceNames() const;

 private:
  struct Entry {
    size_t spec = 0;    // index in specs_
    size_t device = 0;  // index in the spec's devices
    size_t dir = 0;     // index in dirs_
    std::string file;
  };
  void Add(Spec spec, size_t dir, const std::string& file);

  std::vector<std::string> dirs_;
  std::vector<Spec> specs_;
  std::map<std::string, Entry> devices_;  // by qualified name
  // Qualified name -> "a.json and b.yaml" for devices defined twice in the
  // dir with the highest priority that defines them.
  std::map<std::string, std::string> conflicts_;
  std::vector<std::string> errors_;
};

}  // namespace cradle::cdi

#endif  // CRADLE_CDI_REGISTRY_H_
