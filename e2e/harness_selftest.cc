// The harness itself, checked for real: the registry serves the test images
// with the digests recorded, the multilayer image carries its whiteouts, and
// an auth-enabled registry refuses anonymous pulls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "digest/digest.h"
#include "e2e/harness/registry.h"
#include "nlohmann/json.hpp"
#include "process/process.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;

std::string Curl(std::vector<std::string> args) {
  SpawnOptions o;
  o.argv = {"curl", "-s"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  absl::StatusOr<RunResult> r = RunAndCapture(o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->out : "";
}

constexpr char kOciManifest[] =
    "Accept: application/vnd.oci.image.manifest.v1+json";

TEST(HarnessTest, RegistryServesTheTestImages) {
  absl::StatusOr<std::unique_ptr<Registry>> registry = Registry::Start();
  ASSERT_TRUE(registry.ok()) << registry.status();
  absl::StatusOr<TestImages> images = PushTestImages(**registry);
  ASSERT_TRUE(images.ok()) << images.status();
  std::string base = "http://" + (*registry)->host() + "/v2/";

  nlohmann::json catalog = nlohmann::json::parse(Curl({base + "_catalog"}));
  EXPECT_EQ(catalog["repositories"],
            nlohmann::json({"busybox", "multilayer", "pause"}));

  for (const char* name_tag :
       {"busybox:latest", "pause:3.9", "pause:3.6", "multilayer:latest"}) {
    std::string name =
        std::string(name_tag).substr(0, std::string(name_tag).find(':'));
    std::string tag = std::string(name_tag).substr(name.size() + 1);
    std::string manifest =
        Curl({"-H", kOciManifest, base + name + "/manifests/" + tag});
    ASSERT_EQ(images->digests.count(name_tag), 1u) << name_tag;
    EXPECT_EQ(Digest::OfBytes(manifest).ToString(),
              images->digests.at(name_tag))
        << name_tag;
  }

  nlohmann::json multi = nlohmann::json::parse(
      Curl({"-H", kOciManifest, base + "multilayer/manifests/latest"}));
  ASSERT_GE(multi["layers"].size(), 3u);
  std::string top = multi["layers"].back()["digest"];
  SpawnOptions list{
      {"sh", "-c",
       absl::StrCat("curl -s ", base, "multilayer/blobs/", top, " | tar tz")}};
  absl::StatusOr<RunResult> entries = RunAndCapture(list);
  ASSERT_TRUE(entries.ok());
  EXPECT_THAT(entries->out, HasSubstr("etc/.wh.removed-me"));
  EXPECT_THAT(entries->out, HasSubstr("data/.wh.a"));
  EXPECT_THAT(entries->out, HasSubstr("opaque/.wh..wh..opq"));

  nlohmann::json pause_config = nlohmann::json::parse(
      Curl({base + "pause/blobs/" +
            nlohmann::json::parse(
                Curl({"-H", kOciManifest,
                      base + "pause/manifests/3.9"}))["config"]["digest"]
                .get<std::string>()}));
  EXPECT_EQ(pause_config["config"]["Entrypoint"], nlohmann::json({"/pause"}));
  EXPECT_EQ(pause_config["config"]["User"], "65535:65535");
}

TEST(HarnessTest, AuthRegistryWantsCredentials) {
  absl::StatusOr<std::unique_ptr<Registry>> registry =
      Registry::Start({"alice", "s3cret"});
  ASSERT_TRUE(registry.ok()) << registry.status();
  std::string url = "http://" + (*registry)->host() + "/v2/";
  EXPECT_EQ(Curl({"-o", "/dev/null", "-w", "%{http_code}", url}), "401");
  EXPECT_EQ(Curl({"-o", "/dev/null", "-w", "%{http_code}", "-u", "alice:s3cret",
                  url}),
            "200");
  EXPECT_EQ(
      Curl({"-o", "/dev/null", "-w", "%{http_code}", "-u", "alice:wrong", url}),
      "401");
}

}  // namespace
}  // namespace cradle::e2e
