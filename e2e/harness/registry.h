// A real OCI registry for tests: Debian's docker-registry (the CNCF
// distribution server) on a free 127.0.0.1 port, its storage in a temp dir.
#ifndef CRADLE_E2E_HARNESS_REGISTRY_H_
#define CRADLE_E2E_HARNESS_REGISTRY_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace cradle::e2e {

struct RegistryOptions {
  // With a username, the registry requires basic auth (htpasswd, bcrypt).
  std::string username;
  std::string password;
};

class Registry {
 public:
  static absl::StatusOr<std::unique_ptr<Registry>> Start(
      RegistryOptions options = {});
  ~Registry();  // stops the server and removes its storage
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // "127.0.0.1:PORT"
  const std::string& host() const { return host_; }
  const std::string& dir() const { return dir_; }

 private:
  Registry() = default;
  std::string dir_;
  std::string host_;
  pid_t pid_ = 0;
};

// The test images (see e2e/images/build-images.sh) pushed to a registry.
struct TestImages {
  std::string registry;  // host:port
  // "busybox:latest" -> manifest digest, for every pushed name:tag.
  std::map<std::string, std::string> digests;
  std::string Ref(const std::string& name_tag) const {
    return registry + "/" + name_tag;
  }
};

// Builds the images (cradle's pause binary included) and pushes them, with
// `credentials` ("user:password") to a registry that wants them.
// `big_mb` > 0 also pushes "big:latest" with a layer of that many MiB.
absl::StatusOr<TestImages> PushTestImages(const Registry& registry,
                                          const std::string& credentials = "",
                                          int big_mb = 0);

// The path of a data dependency (`path` from the workspace root), in the
// test's runfiles or, run from the workspace, in place.
std::string Runfile(const std::string& path);

// A TCP port free on loopback right now, for a server a test starts a
// moment later.
absl::StatusOr<int> FreePort();

}  // namespace cradle::e2e

#endif  // CRADLE_E2E_HARNESS_REGISTRY_H_
