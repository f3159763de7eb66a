#include "cri/runtime/cri_input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace cradle {
namespace {

bool IsControl(char c) {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

bool HasControl(absl::string_view s) {
  for (char c : s) {
    if (IsControl(c)) return true;
  }
  return false;
}

bool HasDotDot(absl::string_view path) {
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return true;
  }
  return false;
}

// The value quoted for a message, with control characters visible.
std::string Quoted(absl::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(s), "\"");
}

absl::Status Invalid(absl::string_view field, absl::string_view value,
                     absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " ", Quoted(value), " ", why));
}

// One whitespace-separated word of /etc/hosts or resolv.conf: a line break
// or a blank in it would add lines or entries of its own.
absl::Status CheckFileWord(absl::string_view field, absl::string_view value) {
  for (char c : value) {
    if (IsControl(c) || c == ' ') {
      return Invalid(field, value,
                     "must not contain spaces, line breaks or other control "
                     "characters: it is written into the pod's /etc files");
    }
  }
  return absl::OkStatus();
}

// CNI_ARGS is "K=V;K=V": a ';' or '=' in a value would add or break pairs.
absl::Status CheckCniArg(absl::string_view field, absl::string_view value) {
  if (HasControl(value) || value.find_first_of(";=") != value.npos) {
    return Invalid(field, value,
                   "must not contain ';', '=' or control characters: it is "
                   "passed to CNI plugins in CNI_ARGS");
  }
  return absl::OkStatus();
}

// Labels under the garbage collector's prefix would pin (or hide) any blob
// or snapshot: they are the store's own.
absl::Status CheckLabels(
    const google::protobuf::Map<std::string, std::string>& labels) {
  for (const auto& [key, value] : labels) {
    if (absl::StartsWith(key, "cradle.io/gc.")) {
      return Invalid("label", key,
                     "is reserved: cradle.io/gc.* labels are the garbage "
                     "collector's own");
    }
  }
  return absl::OkStatus();
}

// What the CRI allows of one mount, before anything is made for it.
absl::Status CheckMount(const runtime::v1::Mount& m) {
  std::string what = absl::StrCat("mount of ", Quoted(m.container_path()));
  bool image = !m.image().image().empty();
  if (image && !m.host_path().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " names both a host_path and an image; a mount has one source"));
  }
  if (!image && !m.image_sub_path().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has an image_sub_path but no image"));
  }
  const std::string& sub = m.image_sub_path();
  if (absl::StartsWith(sub, "/") || HasDotDot(sub) || HasControl(sub)) {
    return Invalid(absl::StrCat(what, ": image_sub_path"), sub,
                   "must be a path inside the image, relative and without "
                   "\"..\" components (e.g. \"usr/share\")");
  }
  if (m.recursive_read_only()) {
    // As the CRI defines it: a writable or propagating mount could gain
    // writable submounts after the fact.
    if (!m.readonly()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": recursive_read_only needs readonly to be set too"));
    }
    if (m.propagation() != runtime::v1::PROPAGATION_PRIVATE) {
      return absl::InvalidArgumentError(
          absl::StrCat(what,
                       ": recursive_read_only needs propagation "
                       "PROPAGATION_PRIVATE, not ",
                       runtime::v1::MountPropagation_Name(m.propagation())));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePodSandboxConfig(
    const runtime::v1::PodSandboxConfig& config) {
  const runtime::v1::PodSandboxMetadata& meta = config.metadata();
  if (absl::Status s = CheckCniArg("metadata.name", meta.name()); !s.ok())
    return s;
  if (absl::Status s = CheckCniArg("metadata.namespace", meta.namespace_());
      !s.ok())
    return s;
  if (absl::Status s = CheckCniArg("metadata.uid", meta.uid()); !s.ok())
    return s;
  if (absl::Status s = CheckFileWord("hostname", config.hostname()); !s.ok())
    return s;
  if (absl::Status s = CheckLabels(config.labels()); !s.ok()) return s;
  const runtime::v1::DNSConfig& dns = config.dns_config();
  for (const std::string& v : dns.servers()) {
    if (absl::Status s = CheckFileWord("dns_config.servers entry", v); !s.ok())
      return s;
  }
  for (const std::string& v : dns.searches()) {
    if (absl::Status s = CheckFileWord("dns_config.searches entry", v); !s.ok())
      return s;
  }
  for (const std::string& v : dns.options()) {
    if (absl::Status s = CheckFileWord("dns_config.options entry", v); !s.ok())
      return s;
  }
  const std::string& parent = config.linux().cgroup_parent();
  if (HasDotDot(parent) || HasControl(parent)) {
    return Invalid("linux.cgroup_parent", parent,
                   "must not contain \"..\" components or control "
                   "characters: it names a cgroup below the cgroup root");
  }
  return absl::OkStatus();
}

absl::Status ValidateContainerConfig(
    const runtime::v1::ContainerConfig& config) {
  const std::string& log = config.log_path();
  if (absl::StartsWith(log, "/") || HasDotDot(log) || HasControl(log)) {
    return Invalid("log_path", log,
                   "must be relative to the pod's log_directory, without "
                   "\"..\" components (e.g. \"app/0.log\")");
  }
  for (const runtime::v1::Mount& m : config.mounts()) {
    if (absl::Status s = CheckMount(m); !s.ok()) return s;
  }
  if (absl::Status s = CheckLabels(config.labels()); !s.ok()) return s;
  const runtime::v1::LinuxContainerSecurityContext& sc =
      config.linux().security_context();
  std::string profile = LocalhostSeccompRef(sc);
  // A Localhost profile that names no file must not pass as "none".
  bool localhost =
      sc.has_seccomp()
          ? sc.seccomp().profile_type() ==
                runtime::v1::SecurityProfile::Localhost
          : absl::StartsWith(sc.seccomp_profile_path(), "localhost/");
  if (localhost && profile.empty()) {
    return absl::InvalidArgumentError(
        "seccomp: a Localhost profile needs the absolute path of its file "
        "(localhost_ref, or seccomp_profile_path \"localhost/<path>\")");
  }
  if (!profile.empty()) {
    absl::StatusOr<std::string> text = ReadSeccompProfile(profile);
    if (!text.ok()) return text.status();
  }
  return absl::OkStatus();
}

std::string LocalhostSeccompRef(
    const runtime::v1::LinuxContainerSecurityContext& sc) {
  if (sc.has_seccomp()) {
    return sc.seccomp().profile_type() ==
                   runtime::v1::SecurityProfile::Localhost
               ? sc.seccomp().localhost_ref()
               : "";
  }
  constexpr absl::string_view kPrefix = "localhost/";
  const std::string& path = sc.seccomp_profile_path();
  return absl::StartsWith(path, kPrefix) ? path.substr(kPrefix.size()) : "";
}

absl::StatusOr<std::string> ReadSeccompProfile(const std::string& path) {
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "seccomp: the Localhost profile ", Quoted(path), " ", why));
  };
  if (!absl::StartsWith(path, "/")) {
    return fail("must be an absolute path of a readable file");
  }
  // O_PATH opens nothing but the name (a profile may be a symlink): a
  // FIFO cannot block and a device's driver is never called. Only a
  // regular file is then opened for reading, through the same inode.
  int pin = open(path.c_str(), O_PATH | O_CLOEXEC);
  if (pin < 0) {
    return fail(absl::StrCat("cannot be opened: ", strerror(errno)));
  }
  struct stat st;
  if (fstat(pin, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(pin);
    return fail("is not a regular file");
  }
  if (static_cast<size_t>(st.st_size) > kMaxSeccompProfileBytes) {
    close(pin);
    return fail(absl::StrCat("is ", st.st_size, " bytes; the limit is ",
                             kMaxSeccompProfileBytes));
  }
  int fd = open(absl::StrCat("/proc/self/fd/", pin).c_str(),
                O_RDONLY | O_CLOEXEC | O_NOCTTY);
  int open_errno = errno;
  close(pin);
  if (fd < 0) {
    return fail(absl::StrCat("cannot be opened: ", strerror(open_errno)));
  }
  // One byte over the size it had tells a file that grew; it may grow up
  // to the limit, never past it.
  std::string text(static_cast<size_t>(st.st_size) + 1, '\0');
  size_t got = 0;
  for (;;) {
    if (got == text.size()) {
      if (text.size() > kMaxSeccompProfileBytes) break;
      text.resize(std::min(2 * text.size(), kMaxSeccompProfileBytes + 1));
    }
    ssize_t n = read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = strerror(errno);
      close(fd);
      return fail(absl::StrCat("cannot be read: ", why));
    }
    if (n == 0) break;
    got += n;
  }
  close(fd);
  if (got > kMaxSeccompProfileBytes) {
    return fail(absl::StrCat("is over the limit of ", kMaxSeccompProfileBytes,
                             " bytes"));
  }
  text.resize(got);
  return text;
}

}  // namespace cradle
