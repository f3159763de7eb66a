// A CNI network for one test: a bridge of its own with host-local IPAM on
// a private /24, portmap chained, under a temp conf dir.
#ifndef CRADLE_E2E_HARNESS_TEST_NETWORK_H_
#define CRADLE_E2E_HARNESS_TEST_NETWORK_H_

#include <string>

namespace cradle::e2e {

class TestNetwork {
 public:
  // `subnet_octet`: the network is 10.88.<octet>.0/24.
  explicit TestNetwork(int subnet_octet);
  ~TestNetwork();  // deletes the bridge and the conf dir
  TestNetwork(const TestNetwork&) = delete;
  TestNetwork& operator=(const TestNetwork&) = delete;

  // Replaces the network config with `conflist` (JSON).
  void Write(const std::string& conflist);
  // The standard bridge config.
  std::string BridgeConflist() const;
  // "[cni]" config lines pointing cradled at this network.
  std::string DaemonConfig() const;
  const std::string& dir() const { return dir_; }
  const std::string& bridge() const { return bridge_; }
  std::string prefix() const;  // "10.88.<octet>."

 private:
  int octet_;
  std::string dir_;
  std::string bridge_;
};

}  // namespace cradle::e2e

#endif  // CRADLE_E2E_HARNESS_TEST_NETWORK_H_
