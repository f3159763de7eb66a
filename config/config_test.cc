#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace cradle {
namespace {

using ::testing::HasSubstr;

absl::Status ParseError(const std::string& text) {
  return ParseConfig(text, "test.toml", DefaultConfig()).status();
}

TEST(ConfigTest, EmbeddedDefaultHasContainerdStyleLayout) {
  Config c = DefaultConfig();
  EXPECT_EQ(c.root, "/var/lib/cradle");
  EXPECT_EQ(c.state, "/run/cradle");
  EXPECT_EQ(c.grpc.address, "/run/cradle/cradle.sock");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.images.snapshotter, "overlayfs");
  EXPECT_EQ(c.cni.conf_dir, "/etc/cni/net.d");
  EXPECT_EQ(c.cni.bin_dirs,
            (std::vector<std::string>{"/usr/lib/cni", "/opt/cni/bin"}));
  EXPECT_EQ(c.grpc.max_recv_message_size, 16 * 1024 * 1024);
  EXPECT_TRUE(c.registry.mirrors.empty());
  EXPECT_TRUE(c.registry.mirror_credentials.empty());  // mirrors: anonymous
}

TEST(ConfigTest, FileOverridesOnlyWhatItNames) {
  absl::StatusOr<Config> c = ParseConfig(R"(
root = "/srv/cradle"
[images]
snapshotter = "native"
[registry]
plain_http = ["127.0.0.1:5000"]
mirror_credentials = ["docker.io"]
[registry.mirrors]
"docker.io" = ["http://127.0.0.1:5000", "https://mirror.example"]
)",
                                         "test.toml", DefaultConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->root, "/srv/cradle");
  EXPECT_EQ(c->state, "/run/cradle");
  EXPECT_EQ(c->images.snapshotter, "native");
  EXPECT_EQ(c->images.max_concurrent_downloads, 3);
  EXPECT_EQ(c->registry.plain_http, std::vector<std::string>{"127.0.0.1:5000"});
  ASSERT_EQ(c->registry.mirrors.count("docker.io"), 1u);
  EXPECT_EQ(c->registry.mirrors.at("docker.io").size(), 2u);
  EXPECT_EQ(c->registry.mirror_credentials,
            std::vector<std::string>{"docker.io"});
}

TEST(ConfigTest, RuncAndCrunAreHandlersOutOfTheBoxWithCrunFirst) {
  Config c = DefaultConfig();
  EXPECT_EQ(c.runtime.default_handler,
            (std::vector<std::string>{"crun", "runc"}));
  ASSERT_EQ(c.runtime.handlers.size(), 2u);
  EXPECT_EQ(c.runtime.handlers.at("runc").binary, "runc");
  EXPECT_EQ(c.runtime.handlers.at("crun").binary, "crun");
  EXPECT_EQ(c.runtime.handlers.at("crun").root, "");
}

TEST(ConfigTest, AFileAddsAHandlerAndMakesItTheDefault) {
  absl::StatusOr<Config> c = ParseConfig(R"(
[runtime]
default_handler = "fast"
[runtime.handlers.fast]
binary = "/usr/local/bin/crun"
root = "/run/fast"
[runtime.handlers.runc]
binary = "/usr/sbin/runc"
)",
                                         "test.toml", DefaultConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->runtime.default_handler, std::vector<std::string>{"fast"});
  ASSERT_EQ(c->runtime.handlers.size(), 3u);
  EXPECT_EQ(c->runtime.handlers.at("fast").root, "/run/fast");
  EXPECT_EQ(c->runtime.handlers.at("runc").binary, "/usr/sbin/runc");
  EXPECT_EQ(c->runtime.handlers.at("crun").binary, "crun");
}

TEST(ConfigTest, BadHandlersAreRefusedByName) {
  EXPECT_THAT(ParseError("[runtime]\ndefault_handler = \"kata\"\n").message(),
              HasSubstr("default_handler \"kata\" is not among "
                        "runtime.handlers (crun, runc)"));
  EXPECT_THAT(ParseError("[runtime]\ndefault_handler = [\"runc\", \"kata\"]\n")
                  .message(),
              HasSubstr("default_handler \"kata\" is not among"));
  EXPECT_THAT(ParseError("[runtime]\ndefault_handler = []\n").message(),
              HasSubstr("want at least one name"));
  EXPECT_THAT(ParseError("[runtime]\ndefault_handler = 3\n").message(),
              HasSubstr("want a name or a list of names"));
  EXPECT_THAT(
      ParseError("[runtime.handlers.Fast]\nbinary = \"crun\"\n").message(),
      HasSubstr("not a DNS label"));
  EXPECT_THAT(
      ParseError("[runtime.handlers.pods]\nbinary = \"crun\"\n").message(),
      HasSubstr("taken by the state dir"));
  EXPECT_THAT(ParseError("[runtime.handlers.x]\nroot = \"/r\"\n").message(),
              HasSubstr("runtime.handlers.x: binary is empty"));
  EXPECT_THAT(ParseError("[runtime.handlers.x]\nbinary = \"b\"\nroot = \"r\"\n")
                  .message(),
              HasSubstr("absolute path"));
  EXPECT_THAT(ParseError("[runtime.handlers.x]\nbinry = \"b\"\n").message(),
              HasSubstr("unknown key \"runtime.handlers.x.binry\""));
  EXPECT_THAT(ParseError("[runtime.handlers.a]\nbinary = \"b\"\nroot = "
                         "\"/r\"\n[runtime.handlers.c]\nbinary = \"d\"\n"
                         "root = \"/r\"\n")
                  .message(),
              HasSubstr("root /r is also runtime.handlers.a's"));
  // The key of the single-runtime days is gone.
  EXPECT_THAT(ParseError("[runtime]\nrunc = \"runc\"\n").message(),
              HasSubstr("unknown key \"runtime.runc\""));
}

TEST(ConfigTest, UnknownTopLevelKeyNamesFileLineAndKey) {
  absl::Status s = ParseError("root = \"/x\"\n\nroots = \"/y\"\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("test.toml:3:"));
  EXPECT_THAT(s.message(), HasSubstr("unknown key \"roots\""));
}

TEST(ConfigTest, UnknownNestedKeyIsQualified) {
  absl::Status s =
      ParseError("[grpc]\naddress = \"/run/x.sock\"\nadress = \"/y\"\n");
  EXPECT_THAT(s.message(), HasSubstr("test.toml:3:"));
  EXPECT_THAT(s.message(), HasSubstr("unknown key \"grpc.adress\""));
}

TEST(ConfigTest, UnknownSectionIsRejected) {
  absl::Status s = ParseError("[plugins.cri]\nx = 1\n");
  EXPECT_THAT(s.message(), HasSubstr("unknown key \"plugins\""));
}

TEST(ConfigTest, BadEnumValueListsTheChoices) {
  absl::Status s = ParseError("log_level = \"loud\"\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("test.toml:1:"));
  EXPECT_THAT(s.message(), HasSubstr("key \"log_level\""));
  EXPECT_THAT(s.message(), HasSubstr("debug, info, warning, error"));
  EXPECT_THAT(s.message(), HasSubstr("\"loud\""));
}

TEST(ConfigTest, WrongTypeIsRejected) {
  EXPECT_THAT(
      ParseError("[images]\nmax_concurrent_downloads = \"3\"\n").message(),
      HasSubstr("key \"images.max_concurrent_downloads\": want an integer"));
  EXPECT_THAT(ParseError("[cni]\nbin_dirs = \"/usr/lib/cni\"\n").message(),
              HasSubstr("want an array of strings"));
  EXPECT_THAT(ParseError("[registry.mirrors]\n\"docker.io\" = [1]\n").message(),
              HasSubstr("registry.mirrors.\"docker.io\""));
  EXPECT_THAT(ParseError("grpc = 3\n").message(),
              HasSubstr("key \"grpc\": want a table"));
}

TEST(ConfigTest, OutOfRangeAndRelativePathsAreRejected) {
  EXPECT_THAT(ParseError("[streaming]\nport = 70000\n").message(),
              HasSubstr("want a value in [0, 65535], got 70000"));
  EXPECT_THAT(ParseError("root = \"var/lib/cradle\"\n").message(),
              HasSubstr("want an absolute path"));
  EXPECT_THAT(ParseError("version = 2\n").message(),
              HasSubstr("key \"version\""));
  std::string long_socket =
      "[grpc]\naddress = \"/" + std::string(120, 'a') + "\"\n";
  EXPECT_THAT(ParseError(long_socket).message(),
              HasSubstr("at most 100 bytes"));
}

TEST(ConfigTest, SyntaxErrorNamesThePosition) {
  absl::Status s = ParseError("root = \"/x\"\n[grpc\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("test.toml:2:"));
}

TEST(ConfigTest, LoadNamesTheRealFile) {
  std::string path = std::string(getenv("TEST_TMPDIR")) + "/bad.toml";
  std::ofstream(path) << "# comment\nlog_level = 3\n";
  absl::Status s = LoadConfig(path).status();
  EXPECT_THAT(s.message(), HasSubstr(path + ":2:"));
  EXPECT_EQ(LoadConfig("/nonexistent/cradle.toml").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ConfigTest, JsonCarriesTheEffectiveValues) {
  nlohmann::json j = nlohmann::json::parse(ConfigToJson(DefaultConfig()));
  EXPECT_EQ(j["root"], "/var/lib/cradle");
  EXPECT_EQ(j["grpc"]["address"], "/run/cradle/cradle.sock");
  EXPECT_EQ(j["images"]["snapshotter"], "overlayfs");
}

TEST(ConfigTest, UnpackLimitsAreOnByDefaultAndCanBeTurnedOff) {
  Config d = DefaultConfig();
  EXPECT_EQ(d.images.unpack_max_ratio, 100);
  EXPECT_EQ(d.images.unpack_ratio_floor_mib, 1024);
  EXPECT_EQ(d.images.unpack_min_free_mib, 256);
  EXPECT_EQ(d.images.unpack_max_entries, 1000000);
  EXPECT_EQ(d.images.max_layers, 128);
  absl::StatusOr<Config> c =
      ParseConfig("[images]\nunpack_max_ratio = 0\nunpack_min_free_mib = 0\n",
                  "test.toml", d);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->images.unpack_max_ratio, 0);
  EXPECT_EQ(c->images.unpack_min_free_mib, 0);
  EXPECT_EQ(c->images.max_layers, 128);
  EXPECT_THAT(ParseError("[images]\nmax_layers = -1\n").message(),
              HasSubstr("images.max_layers"));
}

TEST(ConfigTest, CdiSpecDirsDefaultAsContainerdsAndCanBeSet) {
  Config d = DefaultConfig();
  EXPECT_EQ(d.runtime.cdi_spec_dirs,
            std::vector<std::string>({"/etc/cdi", "/var/run/cdi"}));
  absl::StatusOr<Config> c = ParseConfig(
      "[runtime]\ncdi_spec_dirs = [\"/opt/cdi\"]\n", "test.toml", d);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->runtime.cdi_spec_dirs, std::vector<std::string>({"/opt/cdi"}));
  c = ParseConfig("[runtime]\ncdi_spec_dirs = []\n", "test.toml", d);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->runtime.cdi_spec_dirs.empty());
  EXPECT_EQ(nlohmann::json::parse(ConfigToJson(d))["runtime"]["cdi_spec_dirs"],
            nlohmann::json({"/etc/cdi", "/var/run/cdi"}));
  absl::Status s = ParseError("[runtime]\ncdi_spec_dirs = [\"/a\", \"cdi\"]\n");
  EXPECT_THAT(s.message(), HasSubstr("test.toml:2:"));
  EXPECT_THAT(s.message(), HasSubstr("runtime.cdi_spec_dirs"));
  EXPECT_THAT(s.message(), HasSubstr("want an absolute path, got \"cdi\""));
  EXPECT_THAT(ParseError("[runtime]\ncdi_spec_dirs = \"/etc/cdi\"\n").message(),
              HasSubstr("want an array of strings"));
}

TEST(ConfigTest, PullProgressTimeoutIsADurationDefaultingToFiveMinutes) {
  EXPECT_EQ(DefaultConfig().images.image_pull_progress_timeout,
            absl::Minutes(5));
  absl::StatusOr<Config> c =
      ParseConfig("[images]\nimage_pull_progress_timeout = \"1m30s\"\n",
                  "test.toml", DefaultConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->images.image_pull_progress_timeout, absl::Seconds(90));
  c = ParseConfig("[images]\nimage_pull_progress_timeout = \"0\"\n",
                  "test.toml", DefaultConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->images.image_pull_progress_timeout, absl::ZeroDuration());
  for (const char* bad : {"\"-1s\"", "\"soon\"", "300", "\"inf\""}) {
    absl::Status s = ParseError(
        absl::StrCat("[images]\nimage_pull_progress_timeout = ", bad, "\n"));
    EXPECT_THAT(s.message(),
                HasSubstr("key \"images.image_pull_progress_timeout\""))
        << bad;
  }
}

TEST(ConfigTest, MetricsAddressIsOffByDefaultAndValidated) {
  EXPECT_EQ(DefaultConfig().metrics.address, "");
  for (const char* good :
       {"127.0.0.1:1338", "[::1]:1338", "localhost:9100", "0.0.0.0:65535"}) {
    absl::StatusOr<Config> c =
        ParseConfig(absl::StrCat("[metrics]\naddress = \"", good, "\"\n"),
                    "test.toml", DefaultConfig());
    ASSERT_TRUE(c.ok()) << good << ": " << c.status();
    EXPECT_EQ(c->metrics.address, good);
  }
  for (const char* bad :
       {"1338", "127.0.0.1:0", "127.0.0.1:70000", "example.com:80", "::1:80"}) {
    absl::Status s =
        ParseError(absl::StrCat("\n[metrics]\naddress = \"", bad, "\"\n"));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("test.toml:3:")) << bad;
    EXPECT_THAT(s.message(), HasSubstr("key \"metrics.address\"")) << bad;
  }
  EXPECT_THAT(ParseError("[metrics]\nadress = \"127.0.0.1:1\"\n").message(),
              HasSubstr("metrics.adress"));
  EXPECT_THAT(ConfigToJson(DefaultConfig()), HasSubstr("\"metrics\""));
}

}  // namespace
}  // namespace cradle
