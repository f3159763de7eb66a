#include "oci/image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace cradle::oci {
namespace {

using ::testing::HasSubstr;

std::string D(const std::string& seed) {
  return Digest::OfBytes(seed).ToString();
}

std::string Entry(const std::string& arch, const std::string& variant,
                  const std::string& seed) {
  return absl::StrCat(
      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")",
      D(seed), R"(","size":100,"platform":{"os":"linux","architecture":")",
      arch, R"(")",
      variant.empty() ? "" : absl::StrCat(R"(,"variant":")", variant, "\""),
      "}}");
}

TEST(OciTest, ParsesManifest) {
  std::string text = absl::StrCat(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
      D("c"),
      R"(","size":7},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",)",
      R"("digest":")", D("l0"), R"(","size":1234},)",
      R"({"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":")",
      D("l1"), R"(","size":5}],"annotations":{"a":"b"}})");
  absl::StatusOr<Manifest> m = ParseManifest(text);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->config.digest.ToString(), D("c"));
  EXPECT_EQ(m->config.size, 7);
  ASSERT_EQ(m->layers.size(), 2u);
  EXPECT_EQ(m->layers[0].size, 1234);
  EXPECT_EQ(m->annotations.at("a"), "b");
  EXPECT_EQ(*DocumentKind("", text), "manifest");
}

TEST(OciTest, RejectsBrokenManifestsNamingTheField) {
  EXPECT_THAT(ParseManifest("{").status().message(),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(ParseManifest("[]").status().message(),
              HasSubstr("not a JSON object"));
  std::string bad_digest = absl::StrCat(
      R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json",)",
      R"("digest":"sha256:zz","size":1},"layers":[]})");
  EXPECT_THAT(ParseManifest(bad_digest).status().message(),
              HasSubstr("manifest: config"));
  std::string bad_size =
      absl::StrCat(R"({"schemaVersion":2,"config":{"digest":")", D("c"),
                   R"(","size":-1},"layers":[]})");
  EXPECT_THAT(ParseManifest(bad_size).status().message(),
              HasSubstr("non-negative"));
  std::string bad_layer =
      absl::StrCat(R"({"schemaVersion":2,"config":{"digest":")", D("c"),
                   R"(","size":1},"layers":[)",
                   R"({"mediaType":"application/x-foo","digest":")", D("x"),
                   R"(","size":1}]})");
  EXPECT_THAT(ParseManifest(bad_layer).status().message(),
              HasSubstr("layers[0]"));
  EXPECT_THAT(DocumentKind("", R"({"schemaVersion":1,"fsLayers":[]})")
                  .status()
                  .message(),
              HasSubstr("schema 1"));
}

TEST(OciTest, ParsesImageConfig) {
  std::string text = absl::StrCat(
      R"({"architecture":"amd64","os":"linux","config":{"User":"1000:1000",)",
      R"("Env":["PATH=/bin","A=b"],"Entrypoint":["/pause"],"Cmd":null,"WorkingDir":"/w",)",
      R"("ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"StopSignal":"SIGQUIT",)",
      R"("Labels":{"k":"v"}},"rootfs":{"type":"layers","diff_ids":[")", D("a"),
      R"(",")", D("b"), R"("]}})");
  absl::StatusOr<ImageConfig> c = ParseImageConfig(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->user, "1000:1000");
  EXPECT_EQ(c->env, (std::vector<std::string>{"PATH=/bin", "A=b"}));
  EXPECT_EQ(c->entrypoint, std::vector<std::string>{"/pause"});
  EXPECT_TRUE(c->cmd.empty());
  EXPECT_EQ(c->working_dir, "/w");
  EXPECT_EQ(c->exposed_ports, std::vector<std::string>{"80/tcp"});
  EXPECT_EQ(c->volumes, std::vector<std::string>{"/data"});
  EXPECT_EQ(c->stop_signal, "SIGQUIT");
  ASSERT_EQ(c->diff_ids.size(), 2u);
  EXPECT_EQ(c->diff_ids[1].ToString(), D("b"));
  EXPECT_THAT(ParseImageConfig(R"({"config":{"Env":"x"},"rootfs":{}})")
                  .status()
                  .message(),
              HasSubstr("\"Env\" is not an array"));
}

TEST(OciTest, ChoosesThePlatform) {
  std::string text = absl::StrCat(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)",
      Entry("arm64", "v8", "arm64"), ",", Entry("amd64", "v3", "amd64v3"), ",",
      Entry("amd64", "", "amd64"), ",", Entry("arm", "v6", "armv6"), ",",
      Entry("arm", "v7", "armv7"), "]}");
  absl::StatusOr<Index> index = ParseIndex(text);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(
      *DocumentKind("application/vnd.docker.distribution.manifest.list.v2+json",
                    text),
      "index");
  auto pick = [&](const std::string& arch, const std::string& variant) {
    absl::StatusOr<Descriptor> d =
        ChoosePlatform(*index, Platform{"linux", arch, variant, ""});
    return d.ok() ? d->digest.ToString() : std::string(d.status().message());
  };
  EXPECT_EQ(pick("amd64", ""), D("amd64"));
  EXPECT_EQ(pick("amd64", "v3"), D("amd64v3"));
  EXPECT_EQ(pick("arm64", ""), D("arm64"));
  EXPECT_EQ(pick("arm", "v7"), D("armv7"));
  EXPECT_EQ(pick("arm", "v8"), D("armv7"));  // the highest lower variant
  EXPECT_THAT(pick("s390x", ""),
              HasSubstr("offers: linux/arm64/v8, linux/amd64/v3"));
  EXPECT_EQ(HostPlatform().os, "linux");
}

}  // namespace
}  // namespace cradle::oci
