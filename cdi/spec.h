// Container Device Interface (CDI) specs: what a vendor's spec file says,
// read from its JSON or YAML text and checked.
//
// A spec names a kind ("vendor.com/class") and its devices; each device and
// the spec itself carry container edits (env, device nodes, mounts, hooks,
// extra groups). A container asks for a device by its fully qualified name,
// "vendor.com/class=name", and gets the device's edits plus the spec's.
// Versions 0.3.0 to 0.8.0 of the CDI spec are read.
#ifndef CRADLE_CDI_SPEC_H_
#define CRADLE_CDI_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle::cdi {

// A device node to make in the container. Type, major and minor may be
// left out: they are then taken from the host's node (host_path, or path).
struct DeviceNode {
  std::string path;       // in the container
  std::string host_path;  // empty: the same as path
  std::string type;       // "", "c", "u", "b" or "p"
  std::optional<int64_t> major;
  std::optional<int64_t> minor;
  std::optional<uint32_t> file_mode;
  std::string permissions;  // device cgroup access, "rwm" when empty
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
};

struct Mount {
  std::string host_path;
  std::string container_path;
  std::vector<std::string> options;
  std::string type;  // "" or "bind" are bind mounts
};

struct Hook {
  std::string hook_name;  // an OCI hook point: "createRuntime", ...
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds, > 0
};

struct ContainerEdits {
  std::vector<std::string> env;  // "KEY=value"
  std::vector<DeviceNode> device_nodes;
  std::vector<Mount> mounts;
  std::vector<Hook> hooks;
  std::vector<uint32_t> additional_gids;
  // Edits cradle cannot make; applying them logs a warning.
  bool has_intel_rdt = false;
  bool has_net_devices = false;
};

struct Device {
  std::string name;
  ContainerEdits edits;
};

struct Spec {
  std::string version;  // cdiVersion
  std::string kind;     // "vendor.com/class"
  std::vector<Device> devices;
  ContainerEdits edits;  // applied with any of the spec's devices
};

enum class Format { kJson, kYaml };

// Parses and checks one spec file's text. InvalidArgument says what is
// wrong and where ("devices[1].containerEdits.deviceNodes[0].path: ...").
// Never throws, whatever the input.
absl::StatusOr<Spec> ParseSpec(absl::string_view text, Format format);

// A device's fully qualified name, "vendor.com/class=name", in parts.
struct QualifiedName {
  std::string vendor;
  std::string class_name;
  std::string name;
};

// InvalidArgument when `name` is not fully qualified or a part is invalid.
absl::StatusOr<QualifiedName> ParseQualifiedName(absl::string_view name);

// The rules of each part (as the CDI spec and its reference library have
// them): a vendor starts with a letter, ends with a letter or digit, and
// has letters, digits, '-', '_' and '.' between; a class likewise; a device
// name starts and ends with a letter or digit and may also hold ':'.
absl::Status ValidateVendor(absl::string_view vendor);
absl::Status ValidateClass(absl::string_view class_name);
absl::Status ValidateDeviceName(absl::string_view name);

}  // namespace cradle::cdi

#endif  // CRADLE_CDI_SPEC_H_
