// cradled's configuration: the TOML file, its embedded default, validation.
//
// The embedded default (default_config.toml) is the single source of the
// default values: Load() parses it first and lays the operator's file over
// it, so a file only names what it changes.
#ifndef CRADLE_CONFIG_CONFIG_H_
#define CRADLE_CONFIG_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cradle {

inline constexpr char kDefaultConfigPath[] = "/etc/cradle/config.toml";

struct Config {
  std::string root;
  std::string state;
  std::string log_level;

  struct Grpc {
    std::string address;
    int64_t gid = 0;
    int64_t max_recv_message_size = 0;
    int64_t max_send_message_size = 0;
  } grpc;

  struct Runtime {
    // An OCI runtime a pod can ask for by name (its RuntimeClass handler).
    struct Handler {
      std::string binary;  // a path, or a name looked up in PATH
      std::string root;    // its state dir (--root); empty: <state>/<name>
    };
    // Handler name -> handler. runc and crun are configured by default;
    // one whose binary is not installed is listed as unusable.
    std::map<std::string, Handler> handlers;
    // The handler of pods that name none (""): the first of these whose
    // binary is usable on this node (the key takes a name or a list).
    std::vector<std::string> default_handler;
    std::string shim;
    std::string cgroup_driver;
    std::string sandbox_image;
    // Container Device Interface spec dirs, lowest priority first: a
    // device defined in a later dir wins. Read at each CreateContainer that
    // asks for a CDI device. Empty: no CDI device resolves.
    std::vector<std::string> cdi_spec_dirs;
  } runtime;

  struct Images {
    std::string snapshotter;
    int64_t max_concurrent_downloads = 0;
    // Layer unpacking limits (snapshots/apply/apply.h); 0 turns one off.
    int64_t unpack_max_ratio = 0;
    int64_t unpack_ratio_floor_mib = 0;
    int64_t unpack_min_free_mib = 0;
    int64_t unpack_max_entries = 0;
    int64_t max_layers = 0;
    // A pull that moves no byte for this long is cancelled; zero: never.
    absl::Duration image_pull_progress_timeout = absl::ZeroDuration();
  } images;

  struct Cni {
    std::vector<std::string> bin_dirs;
    std::string conf_dir;
  } cni;

  struct Streaming {
    std::string address;
    int64_t port = 0;
    bool tls = false;
  } streaming;

  struct Metrics {
    // host:port of the Prometheus endpoint (metrics/address.h); empty: off.
    std::string address;
  } metrics;

  struct Registry {
    std::vector<std::string> plain_http;
    std::vector<std::string> insecure_skip_verify;
    // Registry host -> mirror endpoints, tried in order before the host.
    std::map<std::string, std::vector<std::string>> mirrors;
    // Registry hosts whose pull credentials their mirrors also get.
    std::vector<std::string> mirror_credentials;
  } registry;
};

// The embedded default config, as text (what `cradled config default` prints).
absl::string_view DefaultConfigText();

// The embedded default, parsed.
Config DefaultConfig();

// Parses `text` (named `source` in errors) over `base`. InvalidArgument names
// "source:line:column", the key and what is wrong.
absl::StatusOr<Config> ParseConfig(absl::string_view text,
                                   absl::string_view source,
                                   const Config& base);

// Loads the config for the daemon. With `path` empty, reads
// kDefaultConfigPath if it exists and otherwise uses the embedded default;
// an explicitly given path must exist.
absl::StatusOr<Config> LoadConfig(absl::string_view path);

// The effective config as JSON (CRI Status verbose info, `cradlectl`).
std::string ConfigToJson(const Config& config);

}  // namespace cradle

#endif  // CRADLE_CONFIG_CONFIG_H_
