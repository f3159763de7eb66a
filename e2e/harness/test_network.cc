#include "e2e/harness/test_network.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "process/process.h"

namespace cradle::e2e {

namespace fs = std::filesystem;

TestNetwork::TestNetwork(int subnet_octet) : octet_(subnet_octet) {
  char tmpl[] = "/tmp/cradle-cni-XXXXXX";
  if (mkdtemp(tmpl) != nullptr) dir_ = tmpl;
  bridge_ = absl::StrCat("crdl", subnet_octet, "x", getpid() % 10000);
  fs::create_directories(dir_ + "/net.d");
  Write(BridgeConflist());
}

TestNetwork::~TestNetwork() {
  RunAndCapture(SpawnOptions{{"ip", "link", "del", bridge_}}).IgnoreError();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string TestNetwork::prefix() const {
  return absl::StrCat("10.88.", octet_, ".");
}

std::string TestNetwork::BridgeConflist() const {
  return absl::StrCat(
      R"({"cniVersion":"1.0.0","name":"cradle-e2e","plugins":[{"type":"bridge","bridge":")",
      bridge_,
      R"(","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local",)",
      R"("dataDir":")", dir_, R"(/ipam","ranges":[[{"subnet":")", prefix(),
      R"(0/24"}]]}},)",
      R"({"type":"portmap","capabilities":{"portMappings":true}}]})");
}

void TestNetwork::Write(const std::string& conflist) {
  std::ofstream(dir_ + "/net.d/10-test.conflist") << conflist;
}

std::string TestNetwork::DaemonConfig() const {
  return absl::StrCat("[cni]\nconf_dir = \"", dir_,
                      "/net.d\"\nbin_dirs = [\"/usr/lib/cni\"]\n");
}

}  // namespace cradle::e2e
