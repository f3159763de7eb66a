#include "cri/runtime/pod_files.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lite/files.h"

namespace cradle {
namespace {

std::string ReadHostFile(const char* path) {
  return lite::ReadFileOrEmpty(path);
}

absl::Status Write(const std::string& path, const std::string& data) {
  if (int err = lite::WriteFileAtomic(path, data, 0644); err != 0)
    return absl::InternalError(
        absl::StrCat("write ", path, ": ", strerror(err)));
  return absl::OkStatus();
}

}  // namespace

std::string ResolvConf(const runtime::v1::DNSConfig& dns, bool has_dns) {
  if (!has_dns || (dns.servers().empty() && dns.searches().empty() &&
                   dns.options().empty())) {
    return ReadHostFile("/etc/resolv.conf");
  }
  std::string out;
  if (!dns.searches().empty())
    absl::StrAppend(&out, "search ", absl::StrJoin(dns.searches(), " "), "\n");
  for (const std::string& server : dns.servers())
    absl::StrAppend(&out, "nameserver ", server, "\n");
  if (!dns.options().empty())
    absl::StrAppend(&out, "options ", absl::StrJoin(dns.options(), " "), "\n");
  return out;
}

std::string HostsFile(bool host_network, const std::string& hostname) {
  if (host_network) return ReadHostFile("/etc/hosts");
  std::string out =
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
      "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n"
      "fe00::2\tip6-allrouters\n";
  if (!hostname.empty()) absl::StrAppend(&out, "127.0.1.1\t", hostname, "\n");
  return out;
}

absl::Status WritePodFiles(const std::string& dir,
                           const runtime::v1::PodSandboxConfig& config,
                           bool host_network, const std::string& hostname) {
  if (absl::Status s =
          Write(dir + "/resolv.conf",
                ResolvConf(config.dns_config(), config.has_dns_config()));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Write(dir + "/hosts", HostsFile(host_network, hostname));
      !s.ok())
    return s;
  return Write(dir + "/hostname", hostname + "\n");
}

}  // namespace cradle
