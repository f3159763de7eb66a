#include "runc_driver/spec/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "nlohmann/json.hpp"

namespace cradle::spec {
namespace {

using nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

ContainerSpecInput Basic() {
  ContainerSpecInput in;
  in.args = {"sh", "-c", "true"};
  in.rootfs = "/run/cradle/x/rootfs";
  in.namespaces.network = "/run/cradle/pods/p/netns";
  in.namespaces.ipc = "/run/cradle/pods/p/ipcns";
  in.namespaces.uts = "/run/cradle/pods/p/utsns";
  in.namespaces.pid = "";
  return in;
}

json Build(const ContainerSpecInput& in) {
  absl::StatusOr<std::string> text = BuildSpec(in);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? json::parse(*text) : json();
}

json FindMount(const json& spec, const std::string& dest) {
  for (const json& m : spec["mounts"]) {
    if (m["destination"] == dest) return m;
  }
  return json();
}

TEST(SpecTest, DefaultsLikeADockerContainer) {
  json s = Build(Basic());
  EXPECT_EQ(s["process"]["args"], json({"sh", "-c", "true"}));
  EXPECT_THAT(
      s["process"]["env"].get<std::vector<std::string>>(),
      Contains(
          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  EXPECT_EQ(s["process"]["capabilities"]["bounding"].size(),
            DefaultCapabilities().size());
  EXPECT_THAT(
      s["process"]["capabilities"]["bounding"].get<std::vector<std::string>>(),
      Not(Contains("CAP_SYS_ADMIN")));
  EXPECT_EQ(s["root"]["path"], "/run/cradle/x/rootfs");
  EXPECT_FALSE(s["root"]["readonly"]);
  EXPECT_THAT(s["linux"]["maskedPaths"].get<std::vector<std::string>>(),
              Contains("/proc/kcore"));
  EXPECT_THAT(s["linux"]["readonlyPaths"].get<std::vector<std::string>>(),
              Contains("/proc/sys"));
  EXPECT_THAT(FindMount(s, "/sys")["options"].get<std::vector<std::string>>(),
              Contains("ro"));
  EXPECT_EQ(FindMount(s, "/proc")["type"], "proc");
  EXPECT_EQ(FindMount(s, "/dev/pts")["type"], "devpts");
  EXPECT_EQ(FindMount(s, "/dev/shm")["type"], "tmpfs");
  EXPECT_EQ(FindMount(s, "/dev/mqueue")["type"], "mqueue");
  EXPECT_EQ(FindMount(s, "/sys/fs/cgroup")["type"], "cgroup");
  EXPECT_FALSE(s["linux"].contains("seccomp"));
  EXPECT_EQ(s["linux"]["resources"]["devices"][0]["allow"], false);
}

TEST(SpecTest, NamespacesJoinThePodAndCreateTheRest) {
  json s = Build(Basic());
  std::map<std::string, std::string> ns;
  for (const json& n : s["linux"]["namespaces"])
    ns[n["type"]] = n.value("path", "");
  EXPECT_EQ(ns.at("network"), "/run/cradle/pods/p/netns");
  EXPECT_EQ(ns.at("ipc"), "/run/cradle/pods/p/ipcns");
  EXPECT_EQ(ns.at("uts"), "/run/cradle/pods/p/utsns");
  EXPECT_EQ(ns.at("pid"), "");
  EXPECT_EQ(ns.count("mount"), 1u);
  // A joined UTS namespace already has the pod's hostname: none is set.
  ContainerSpecInput in = Basic();
  in.hostname = "web-0";
  EXPECT_FALSE(Build(in).contains("hostname"));
  in.namespaces.uts = "";
  EXPECT_EQ(Build(in)["hostname"], "web-0");
  // Host network: no network namespace at all.
  in.namespaces.network.reset();
  // Named: a range-for over a member of a temporary reads freed memory.
  json spec = Build(in);
  for (const json& n : spec["linux"]["namespaces"])
    EXPECT_NE(n["type"], "network");
}

TEST(SpecTest, AJoinedUserNamespaceCarriesItsMaps) {
  ContainerSpecInput in = Basic();
  EXPECT_FALSE(Build(in)["linux"].contains("uidMappings"));
  in.namespaces.user = "/run/cradle/pods/p/ns/user";
  in.namespaces.uid_mappings = {{0, 327680, 65536}};
  in.namespaces.gid_mappings = {{0, 393216, 65536}};
  json s = Build(in);
  bool joined = false;
  for (const json& n : s["linux"]["namespaces"]) {
    joined |= n["type"] == "user" &&
              n.value("path", "") == "/run/cradle/pods/p/ns/user";
  }
  EXPECT_TRUE(joined) << s["linux"]["namespaces"];
  // runc 1.1 refuses a user namespace without maps, even a joined one.
  EXPECT_EQ(s["linux"]["uidMappings"],
            json::parse(R"([{"containerID":0,"hostID":327680,"size":65536}])"));
  EXPECT_EQ(s["linux"]["gidMappings"][0]["hostID"], 393216);
  in.namespaces.gid_mappings.clear();
  EXPECT_EQ(BuildSpec(in).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpecTest, CapabilitiesAddDropAndAll) {
  ContainerSpecInput in = Basic();
  in.security.add_capabilities = {"NET_ADMIN", "cap_sys_time"};
  in.security.drop_capabilities = {"CAP_KILL"};
  auto caps = Build(in)["process"]["capabilities"]["effective"]
                  .get<std::vector<std::string>>();
  EXPECT_THAT(caps, Contains("CAP_NET_ADMIN"));
  EXPECT_THAT(caps, Contains("CAP_SYS_TIME"));
  EXPECT_THAT(caps, Not(Contains("CAP_KILL")));
  in.security.add_capabilities = {};
  in.security.drop_capabilities = {"ALL"};
  EXPECT_TRUE(Build(in)["process"]["capabilities"]["bounding"].empty());
  in.security.drop_capabilities = {};
  in.security.add_capabilities = {"ALL"};
  EXPECT_THAT(Build(in)["process"]["capabilities"]["bounding"]
                  .get<std::vector<std::string>>(),
              Contains("CAP_SYS_ADMIN"));
  in.security.add_capabilities = {"CAP_NOT_A_THING"};
  EXPECT_THAT(BuildSpec(in).status().message(), HasSubstr("CAP_NOT_A_THING"));
}

TEST(SpecTest, PrivilegedGetsEverything) {
  ContainerSpecInput in = Basic();
  in.security.privileged = true;
  in.security.seccomp = SeccompMode::kRuntimeDefault;
  json s = Build(in);
  EXPECT_THAT(
      s["process"]["capabilities"]["bounding"].get<std::vector<std::string>>(),
      Contains("CAP_SYS_ADMIN"));
  EXPECT_FALSE(s["linux"].contains("maskedPaths"));
  EXPECT_FALSE(s["linux"].contains("seccomp"));
  EXPECT_THAT(FindMount(s, "/sys")["options"].get<std::vector<std::string>>(),
              Contains("rw"));
  EXPECT_EQ(s["linux"]["resources"]["devices"][0]["allow"], true);
}

TEST(SpecTest, MountsWithPropagationAndReadOnly) {
  ContainerSpecInput in = Basic();
  in.mounts = {{"/data/sub", "/host/b", false, "rshared"},
               {"/data", "/host/a", true, "rslave"},
               {"/etc/hosts", "/run/cradle/pods/p/hosts", false, "private"}};
  json s = Build(in);
  json data = FindMount(s, "/data");
  EXPECT_EQ(data["source"], "/host/a");
  EXPECT_EQ(data["options"], json({"rbind", "rslave", "ro"}));
  EXPECT_EQ(FindMount(s, "/data/sub")["options"],
            json({"rbind", "rshared", "rw"}));
  EXPECT_EQ(s["linux"]["rootfsPropagation"], "rshared");
  // Parents mount before children.
  int data_at = -1, sub_at = -1, i = 0;
  for (const json& m : s["mounts"]) {
    if (m["destination"] == "/data") data_at = i;
    if (m["destination"] == "/data/sub") sub_at = i;
    ++i;
  }
  EXPECT_LT(data_at, sub_at);
  in.mounts = {{"relative", "/x", false, "private"}};
  EXPECT_EQ(BuildSpec(in).status().code(), absl::StatusCode::kInvalidArgument);
  in.mounts = {{"/x", "/x", false, "sideways"}};
  EXPECT_THAT(BuildSpec(in).status().message(), HasSubstr("sideways"));
}

TEST(SpecTest, ResourcesSysctlsCgroupsAndOom) {
  ContainerSpecInput in = Basic();
  in.resources.cpu_shares = 512;
  in.resources.cpu_quota = 50000;
  in.resources.cpu_period = 100000;
  in.resources.cpuset_cpus = "0";
  in.resources.memory_limit = 64 << 20;
  in.resources.pids_limit = 100;
  in.resources.hugepages = {{"2MB", 0}};
  in.cgroups_path = "/kubepods/podabc/ctr";
  in.sysctls = {{"net.ipv4.ip_forward", "1"}};
  in.oom_score_adj = 500;
  json s = Build(in);
  json r = s["linux"]["resources"];
  EXPECT_EQ(r["cpu"]["shares"], 512);
  EXPECT_EQ(r["cpu"]["quota"], 50000);
  EXPECT_EQ(r["cpu"]["period"], 100000);
  EXPECT_EQ(r["cpu"]["cpus"], "0");
  EXPECT_EQ(r["memory"]["limit"], 64 << 20);
  EXPECT_EQ(r["pids"]["limit"], 100);
  EXPECT_EQ(r["hugepageLimits"][0]["pageSize"], "2MB");
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/kubepods/podabc/ctr");
  EXPECT_EQ(s["linux"]["sysctl"]["net.ipv4.ip_forward"], "1");
  EXPECT_EQ(s["process"]["oomScoreAdj"], 500);
}

TEST(SpecTest, SeccompProfiles) {
  ContainerSpecInput in = Basic();
  in.security.seccomp = SeccompMode::kRuntimeDefault;
  json seccomp = Build(in)["linux"]["seccomp"];
  EXPECT_EQ(seccomp["defaultAction"], "SCMP_ACT_ERRNO");
  std::vector<std::string> allowed = seccomp["syscalls"][0]["names"];
  EXPECT_THAT(allowed, Contains("read"));
  EXPECT_THAT(allowed, Contains("execve"));
  EXPECT_THAT(allowed, Not(Contains("mount")));
  EXPECT_THAT(allowed, Not(Contains("kexec_load")));
  EXPECT_THAT(allowed, Not(Contains("init_module")));
  // CAP_SYS_ADMIN makes mount legitimate.
  in.security.add_capabilities = {"SYS_ADMIN"};
  EXPECT_THAT(Build(in)["linux"]["seccomp"]["syscalls"][0]["names"]
                  .get<std::vector<std::string>>(),
              Contains("mount"));
  in.security.seccomp = SeccompMode::kLocalhost;
  in.security.seccomp_profile_json = R"({"defaultAction":"SCMP_ACT_ALLOW"})";
  EXPECT_EQ(Build(in)["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
  in.security.seccomp_profile_json = "nope";
  EXPECT_EQ(BuildSpec(in).status().code(), absl::StatusCode::kInvalidArgument);
}

// Every call the profile allows, whatever entry allows it.
std::vector<std::string> AllowedCalls(const json& seccomp) {
  std::vector<std::string> all;
  for (const json& rule : seccomp["syscalls"]) {
    if (rule["action"] != "SCMP_ACT_ALLOW") continue;
    for (const json& name : rule["names"]) all.push_back(name);
  }
  return all;
}

TEST(SpecTest, RuntimeDefaultSeccompLeavesOutIoUringAndGatesPidfdGetfd) {
  ContainerSpecInput in = Basic();
  in.security.seccomp = SeccompMode::kRuntimeDefault;
  // The profile leaves out what libseccomp cannot name, so the checks
  // below would pass by default were these unknown to it.
  for (const char* call : {"io_uring_setup", "io_uring_enter",
                           "io_uring_register", "pidfd_getfd"}) {
    ASSERT_NE(seccomp_syscall_resolve_name(call), __NR_SCMP_ERROR)
        << "libseccomp does not know " << call;
  }
  std::vector<std::string> allowed =
      AllowedCalls(Build(in)["linux"]["seccomp"]);
  EXPECT_THAT(allowed, Contains("pidfd_open"));
  for (const char* call : {"io_uring_setup", "io_uring_enter",
                           "io_uring_register", "pidfd_getfd"}) {
    EXPECT_THAT(allowed, Not(Contains(call)));
  }
  // CAP_SYS_PTRACE makes pidfd_getfd legitimate; nothing makes io_uring so.
  in.security.add_capabilities = {"SYS_PTRACE", "SYS_ADMIN"};
  allowed = AllowedCalls(Build(in)["linux"]["seccomp"]);
  EXPECT_THAT(allowed, Contains("pidfd_getfd"));
  EXPECT_THAT(allowed, Not(Contains("io_uring_setup")));
}

TEST(SpecTest, DevicesAreMadeAndAllowedAfterTheDefaultDeny) {
  ContainerSpecInput in = Basic();
  Device gpu;
  gpu.path = "/dev/gpu0";
  gpu.major = 195;
  gpu.minor = 0;
  gpu.file_mode = 0660;
  gpu.uid = 1000;
  gpu.gid = 44;
  gpu.permissions = "rw";
  Device disk;
  disk.path = "/dev/sdz";
  disk.type = 'b';
  disk.major = 8;
  disk.minor = 16;
  Device fifo;
  fifo.path = "/dev/pipe";
  fifo.type = 'p';
  in.devices = {gpu, disk, fifo};
  json s = Build(in);
  EXPECT_EQ(s["linux"]["devices"], json::parse(R"([
      {"path": "/dev/gpu0", "type": "c", "major": 195, "minor": 0,
       "fileMode": 432, "uid": 1000, "gid": 44},
      {"path": "/dev/sdz", "type": "b", "major": 8, "minor": 16},
      {"path": "/dev/pipe", "type": "p", "major": 0, "minor": 0}])"));
  EXPECT_EQ(s["linux"]["resources"]["devices"], json::parse(R"([
      {"allow": false, "access": "rwm"},
      {"allow": true, "type": "c", "major": 195, "minor": 0, "access": "rw"},
      {"allow": true, "type": "b", "major": 8, "minor": 16,
       "access": "rwm"}])"));

  // Privileged already allows every device: the nodes only.
  in.security.privileged = true;
  s = Build(in);
  EXPECT_EQ(s["linux"]["devices"].size(), 3u);
  EXPECT_EQ(s["linux"]["resources"]["devices"],
            json::parse(R"([{"allow": true, "access": "rwm"}])"));
  // No devices: no linux.devices.
  EXPECT_FALSE(Build(Basic())["linux"].contains("devices"));
}

TEST(SpecTest, BadDevicesAreRefused) {
  for (auto change : std::vector<void (*)(Device&)>{
           [](Device& d) { d.path = "dev/x"; }, [](Device& d) { d.type = 'x'; },
           [](Device& d) { d.permissions = "rwx"; },
           [](Device& d) { d.permissions = ""; }}) {
    ContainerSpecInput in = Basic();
    Device d;
    d.path = "/dev/x";
    change(d);
    in.devices = {d};
    EXPECT_EQ(BuildSpec(in).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(SpecTest, HooksByTheirPoint) {
  ContainerSpecInput in = Basic();
  in.hooks["createContainer"] = {{"/usr/bin/hook", {"hook", "x"}, {"A=1"}, 5},
                                 {"/usr/bin/two", {}, {}, std::nullopt}};
  in.hooks["poststop"] = {{"/usr/bin/after", {}, {}, std::nullopt}};
  json s = Build(in);
  EXPECT_EQ(s["hooks"], json::parse(R"({
      "createContainer": [
        {"path": "/usr/bin/hook", "args": ["hook", "x"], "env": ["A=1"],
         "timeout": 5},
        {"path": "/usr/bin/two"}],
      "poststop": [{"path": "/usr/bin/after"}]})"));
  EXPECT_FALSE(Build(Basic()).contains("hooks"));

  in.hooks["later"] = {{"/usr/bin/x", {}, {}, std::nullopt}};
  EXPECT_EQ(BuildSpec(in).status().code(), absl::StatusCode::kInvalidArgument);
  in.hooks.erase("later");
  in.hooks["poststop"][0].path = "after";
  EXPECT_EQ(BuildSpec(in).status().code(), absl::StatusCode::kInvalidArgument);
  in.hooks["poststop"][0] = {"/usr/bin/after", {}, {}, 0};
  EXPECT_EQ(BuildSpec(in).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpecTest, BindFlagsAreAddedAndOnlyRestrictingOnes) {
  ContainerSpecInput in = Basic();
  BindMount b{"/usr/lib/gpu", "/host/lib/gpu", true};
  b.flags = {"nosuid", "nodev"};
  in.mounts = {b};
  json m = FindMount(Build(in), "/usr/lib/gpu");
  EXPECT_EQ(m["options"], json({"rbind", "rprivate", "ro", "nosuid", "nodev"}));
  in.mounts[0].flags = {"suid"};
  EXPECT_EQ(BuildSpec(in).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpecTest, UserEnvAndTerminal) {
  ContainerSpecInput in = Basic();
  in.user = {1000, 1000, {10, 20}, "app", "/home/app"};
  in.terminal = true;
  in.env = {"A=b"};
  in.hostname = "h";
  in.namespaces.uts = "";
  json s = Build(in);
  EXPECT_EQ(s["process"]["user"]["uid"], 1000);
  EXPECT_EQ(s["process"]["user"]["additionalGids"], json({10, 20}));
  auto env = s["process"]["env"].get<std::vector<std::string>>();
  EXPECT_THAT(env, Contains("HOME=/home/app"));
  EXPECT_THAT(env, Contains("TERM=xterm"));
  EXPECT_THAT(env, Contains("HOSTNAME=h"));
  EXPECT_THAT(env, Contains("A=b"));
  EXPECT_TRUE(s["process"]["terminal"]);
  in.args.clear();
  EXPECT_EQ(BuildSpec(in).status().code(), absl::StatusCode::kInvalidArgument);
}

class UserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::string(getenv("TEST_TMPDIR")) + "/rootfs";
    std::filesystem::create_directories(root_ + "/etc");
    std::ofstream(root_ + "/etc/passwd")
        << "root:x:0:0:root:/root:/bin/sh\n"
           "app:x:1000:1001:App:/home/app:/bin/sh\n"
           "nobody:x:65534:65534::/nonexistent:/bin/false\n";
    std::ofstream(root_ + "/etc/group")
        << "root:x:0:\napp:x:1001:\nwheel:x:10:app,root\n"
           "video:x:44:app\nstaff:x:50:\n";
  }
  std::string root_;
};

TEST_F(UserTest, ResolvesNamesIdsAndGroups) {
  absl::StatusOr<User> u = ResolveUser(root_, "app");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 1001u);
  EXPECT_EQ(u->home, "/home/app");
  EXPECT_EQ(u->additional_gids, (std::vector<uint32_t>{10, 44}));
  EXPECT_EQ(ResolveUser(root_, "1000")->gid, 1001u);
  EXPECT_EQ(ResolveUser(root_, "app:staff")->gid, 50u);
  EXPECT_EQ(ResolveUser(root_, "4242:4343")->gid, 4343u);
  EXPECT_EQ(ResolveUser(root_, "4242")->gid, 0u);  // no entry: group 0
  EXPECT_EQ(ResolveUser(root_, "")->uid, 0u);
  EXPECT_EQ(ResolveUser(root_, "")->home, "/root");
  absl::Status missing = ResolveUser(root_, "ghost").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("\"ghost\""));
  EXPECT_THAT(ResolveUser(root_, "app:nogroup").status().message(),
              HasSubstr("\"nogroup\""));
}

// An image with USER -1 and a passwd line "-1:x:0:0" ran as root while
// ImageStatus told the kubelet uid -1. A user that is not a valid id is a
// name only if it is a valid name; otherwise nothing runs.
TEST_F(UserTest, MalformedIdsNeverFallBackToANameLookup) {
  std::ofstream(root_ + "/etc/passwd", std::ios::app)
      << "-1:x:0:0::/root:/bin/sh\n"
         "+5:x:0:0::/root:/bin/sh\n"
         " 7:x:0:0::/root:/bin/sh\n"
         "4294967295:x:0:0::/root:/bin/sh\n"
         "0x10:x:0:0::/root:/bin/sh\n";
  for (const char* user : {"-1", "+5", " 7", "4294967295", "-1:0", "0:-1"}) {
    absl::StatusOr<User> u = ResolveUser(root_, user);
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument)
        << "\"" << user << "\" resolved to uid " << (u.ok() ? u->uid : 0);
  }
  // A valid name is looked up as a name (ImageStatus reports it as a
  // username, so runAsNonRoot refuses it before it runs).
  EXPECT_EQ(ResolveUser(root_, "0x10")->uid, 0u);
  EXPECT_EQ(ResolveUser(root_, "app:1000")->gid, 1000u);
  EXPECT_EQ(ResolveUser(root_, "4294967294")->uid, 4294967294u);
}

TEST_F(UserTest, AHostileSymlinkIsResolvedInsideTheRoot) {
  // /etc/passwd -> /etc/shadow-like host file must resolve inside the rootfs.
  std::string host_file = std::string(getenv("TEST_TMPDIR")) + "/host-passwd";
  std::ofstream(host_file) << "evil:x:0:0::/:/bin/sh\n";
  std::filesystem::remove(root_ + "/etc/passwd");
  std::filesystem::create_symlink(host_file, root_ + "/etc/passwd");
  EXPECT_EQ(ResolveUser(root_, "evil").status().code(),
            absl::StatusCode::kNotFound);
  std::filesystem::remove(root_ + "/etc/passwd");
  std::filesystem::create_symlink("../../../../../../.." + host_file,
                                  root_ + "/etc/passwd");
  EXPECT_EQ(ResolveUser(root_, "evil").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace cradle::spec
