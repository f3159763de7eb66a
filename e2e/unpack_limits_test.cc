// Hostile layers against the real daemon: a pull whose layer is refused
// fails with the limit named, and leaves no snapshot of it behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "digest/digest.h"
#include "e2e/harness/daemon.h"
#include "e2e/harness/registry.h"
#include "process/process.h"
#include "snapshots/testing/tar_builder.h"

namespace cradle::e2e {
namespace {

using testing::Compression;
using ::testing::HasSubstr;
using testing::MakeTar;
namespace fs = std::filesystem;

class UnpackLimitsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<Registry>> r = Registry::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    registry_ = r->release();
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(registry_, nullptr);
    // A 1 MiB floor keeps the bomb small; the ratio is the default 100.
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(
        {absl::StrCat("[registry]\nplain_http = [\"", registry_->host(),
                      "\"]\n[images]\nunpack_ratio_floor_mib = 1\n")});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
  }
  void TearDown() override {
    if (daemon_ != nullptr && HasFailure()) std::cerr << daemon_->Log();
    daemon_.reset();
  }

  // Pushes NAME:latest, one layer whose blob is `layer` (declared gzip),
  // and returns its reference.
  std::string Push(const std::string& name, const std::string& layer,
                   const std::string& tar) {
    std::string layout = daemon_->dir() + "/layout-" + name;
    fs::create_directories(layout + "/blobs/sha256");
    auto blob = [&](const std::string& bytes) {
      Digest d = Digest::OfBytes(bytes);
      std::ofstream(layout + "/blobs/sha256/" + d.hex(), std::ios::binary)
          << bytes;
      return d.ToString();
    };
    std::string config =
        absl::StrCat(R"({"architecture":"amd64","os":"linux","config":{},)",
                     R"("rootfs":{"type":"layers","diff_ids":[")",
                     Digest::OfBytes(tar).ToString(), R"("]}})");
    std::string manifest = absl::StrCat(
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
        R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
        blob(config), R"(","size":)", config.size(), "},",
        R"("layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")",
        blob(layer), R"(","size":)", layer.size(), "}]}");
    std::ofstream(layout + "/oci-layout")
        << R"({"imageLayoutVersion":"1.0.0"})";
    std::ofstream(layout + "/index.json") << absl::StrCat(
        R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")",
        blob(manifest), R"(","size":)", manifest.size(),
        R"(,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]})");
    std::string ref = absl::StrCat(registry_->host(), "/", name, ":latest");
    SpawnOptions spawn;
    spawn.argv = {"skopeo",
                  "copy",
                  "--quiet",
                  "--dest-tls-verify=false",
                  "oci:" + layout + ":latest",
                  "docker://" + ref};
    absl::StatusOr<RunResult> run = RunAndCapture(spawn, "", absl::Minutes(2));
    EXPECT_TRUE(run.ok() && run->status.ok())
        << (run.ok() ? run->err : run.status().ToString());
    return ref;
  }

  grpc::Status Pull(const std::string& ref) {
    grpc::ClientContext ctx;
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(ref);
    runtime::v1::PullImageResponse response;
    return daemon_->images().PullImage(&ctx, request, &response);
  }

  // The snapshot dirs the overlayfs snapshotter holds. The snapshotter
  // creates the dir when cradled starts: a missing one means a wrong path,
  // which would make "no snapshot left" pass without looking.
  std::vector<std::string> SnapshotDirs() {
    std::string dir = daemon_->root() + "/snapshots/overlayfs/snapshots";
    std::vector<std::string> dirs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      dirs.push_back(e.path().string());
    }
    if (ec) ADD_FAILURE() << "cannot list " << dir << ": " << ec.message();
    return dirs;
  }

  static Registry* registry_;
  std::unique_ptr<Daemon> daemon_;
};

Registry* UnpackLimitsTest::registry_ = nullptr;

// The control for the tests below: SnapshotDirs() sees what a pull leaves.
TEST_F(UnpackLimitsTest, AnAcceptedLayerLeavesItsSnapshot) {
  std::vector<testing::TarEntry> entries = {{"file", 'f', "data"}};
  std::string ref =
      Push("fine", MakeTar(entries, Compression::kGzip), MakeTar(entries));
  EXPECT_THAT(SnapshotDirs(), ::testing::IsEmpty());
  grpc::Status s = Pull(ref);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(SnapshotDirs(), ::testing::SizeIs(1));
}

TEST_F(UnpackLimitsTest, ADecompressionBombIsRefusedAndLeavesNoSnapshot) {
  std::vector<testing::TarEntry> entries = {
      {"zeros", 'f', std::string(16 << 20, '\0')}};
  std::string layer = MakeTar(entries, Compression::kGzip);
  ASSERT_LT(layer.size(), 100u << 10) << "16 MiB of zeros compress well";
  std::string ref = Push("bomb", layer, MakeTar(entries));
  grpc::Status s = Pull(ref);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("decompression bomb"));
  EXPECT_THAT(s.error_message(), HasSubstr(Digest::OfBytes(layer).ToString()))
      << "the message names the layer";
  EXPECT_THAT(SnapshotDirs(), ::testing::IsEmpty());
}

TEST_F(UnpackLimitsTest,
       ALayerInAnotherCompressionIsRefusedAndLeavesNoSnapshot) {
  std::vector<testing::TarEntry> entries = {{"file", 'f', "data"}};
  std::string ref =
      Push("bzip2", MakeTar(entries, Compression::kBzip2), MakeTar(entries));
  grpc::Status s = Pull(ref);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("compressed with bzip2"));
  EXPECT_THAT(SnapshotDirs(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace cradle::e2e
