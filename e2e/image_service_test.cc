// The ImageService over the real socket, against a real registry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "e2e/harness/fixture.h"
#include "process/process.h"

namespace cradle::e2e {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

class ImageServiceTest : public CradleTest {
 protected:
  grpc::Status Pull(const std::string& image, std::string* id = nullptr,
                    runtime::v1::AuthConfig auth = {}) {
    grpc::ClientContext ctx;
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    *request.mutable_auth() = auth;
    runtime::v1::PullImageResponse response;
    grpc::Status s = daemon().images().PullImage(&ctx, request, &response);
    if (id != nullptr) *id = response.image_ref();
    return s;
  }
  runtime::v1::ImageStatusResponse Status(const std::string& image,
                                          bool verbose = false) {
    grpc::ClientContext ctx;
    runtime::v1::ImageStatusRequest request;
    request.mutable_image()->set_image(image);
    request.set_verbose(verbose);
    runtime::v1::ImageStatusResponse response;
    EXPECT_TRUE(daemon().images().ImageStatus(&ctx, request, &response).ok());
    return response;
  }
  grpc::Status Remove(const std::string& image) {
    grpc::ClientContext ctx;
    runtime::v1::RemoveImageRequest request;
    request.mutable_image()->set_image(image);
    runtime::v1::RemoveImageResponse response;
    return daemon().images().RemoveImage(&ctx, request, &response);
  }
  std::vector<runtime::v1::Image> List() {
    grpc::ClientContext ctx;
    runtime::v1::ListImagesResponse response;
    EXPECT_TRUE(daemon().images().ListImages(&ctx, {}, &response).ok());
    return {response.images().begin(), response.images().end()};
  }
  // Every file under the snapshot store whose path ends with `suffix`.
  std::vector<std::string> SnapshotFiles(const std::string& suffix) {
    std::vector<std::string> found;
    for (const auto& e :
         fs::recursive_directory_iterator(daemon().root() + "/snapshots")) {
      std::string p = e.path().string();
      if (p.size() >= suffix.size() &&
          p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) {
        found.push_back(p);
      }
    }
    return found;
  }
};

TEST_F(ImageServiceTest, PullByTagListStatusAndRemove) {
  std::string ref = images().Ref("busybox:latest");
  std::string id;
  grpc::Status s = Pull(ref, &id);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(id, ::testing::StartsWith("sha256:"));

  std::vector<runtime::v1::Image> all = List();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id(), id);
  EXPECT_THAT(all[0].repo_tags(), Contains(ref));
  EXPECT_THAT(all[0].repo_digests(),
              Contains(images().registry + "/busybox@" +
                       images().digests.at("busybox:latest")));
  EXPECT_GT(all[0].size(), 500000u);  // busybox itself

  for (const std::string& spec : {ref, id,
                                  images().registry + "/busybox@" +
                                      images().digests.at("busybox:latest")}) {
    EXPECT_EQ(Status(spec).image().id(), id) << spec;
  }
  runtime::v1::ImageStatusResponse verbose = Status(ref, true);
  EXPECT_THAT(verbose.info().at("info"), HasSubstr("\"Cmd\":[\"sh\"]"));

  ASSERT_TRUE(Remove(ref).ok());
  EXPECT_FALSE(Status(ref).has_image());
  EXPECT_TRUE(List().empty());
  EXPECT_TRUE(Remove(ref).ok()) << "removal is idempotent";
}

TEST_F(ImageServiceTest,
       RemovingAnImageFreesItsBlobsAndSnapshotsButNotSharedOnes) {
  auto count = [&](const std::string& dir) {
    return std::distance(fs::directory_iterator(daemon().root() + dir),
                         fs::directory_iterator());
  };
  ASSERT_TRUE(Pull(images().Ref("busybox:latest")).ok());
  long busybox_blobs = count("/content/blobs/sha256");
  long busybox_snapshots = count("/snapshots/overlayfs/snapshots");
  ASSERT_TRUE(Pull(images().Ref("multilayer:latest")).ok());
  EXPECT_GT(count("/content/blobs/sha256"), busybox_blobs);
  ASSERT_TRUE(Remove(images().Ref("multilayer:latest")).ok());
  // multilayer's own blobs and its two upper layers are gone; the base
  // layer busybox shares stays.
  EXPECT_EQ(count("/content/blobs/sha256"), busybox_blobs);
  EXPECT_EQ(count("/snapshots/overlayfs/snapshots"), busybox_snapshots);
  ASSERT_TRUE(Status(images().Ref("busybox:latest")).has_image());
  ASSERT_TRUE(Remove(images().Ref("busybox:latest")).ok());
  EXPECT_EQ(count("/content/blobs/sha256"), 0);
  EXPECT_EQ(count("/snapshots/overlayfs/snapshots"), 0);
  EXPECT_EQ(count("/content/ingest"), 0);
  // And it pulls again from scratch.
  ASSERT_TRUE(Pull(images().Ref("busybox:latest")).ok());
}

TEST_F(ImageServiceTest, PullByDigestAndUserFromTheConfig) {
  std::string by_digest =
      images().registry + "/pause@" + images().digests.at("pause:3.9");
  std::string id;
  ASSERT_TRUE(Pull(by_digest, &id).ok());
  runtime::v1::Image image = Status(by_digest).image();
  EXPECT_EQ(image.id(), id);
  EXPECT_TRUE(image.repo_tags().empty());
  EXPECT_EQ(image.uid().value(), 65535);
}

TEST_F(ImageServiceTest, SeveralTagsOfOneImageAndUntagging) {
  std::string id1, id2;
  ASSERT_TRUE(Pull(images().Ref("pause:3.9"), &id1).ok());
  ASSERT_TRUE(Pull(images().Ref("pause:3.6"), &id2).ok());
  EXPECT_EQ(id1, id2);
  ASSERT_EQ(List().size(), 1u);
  EXPECT_EQ(List()[0].repo_tags_size(), 2);
  ASSERT_TRUE(Remove(images().Ref("pause:3.6")).ok());
  EXPECT_TRUE(Status(images().Ref("pause:3.9")).has_image())
      << "only one tag goes";
  EXPECT_FALSE(Status(images().Ref("pause:3.6")).has_image());
  ASSERT_TRUE(Remove(id1).ok());
  EXPECT_TRUE(List().empty());
}

TEST_F(ImageServiceTest, MultiLayerImageUnpacksWithWhiteouts) {
  ASSERT_TRUE(Pull(images().Ref("multilayer:latest")).ok());
  // The top layer's snapshot holds overlay whiteouts for the deleted files
  // and an opaque mark on /opaque.
  std::vector<std::string> removed = SnapshotFiles("/fs/etc/removed-me");
  ASSERT_EQ(removed.size(),
            2u);  // the file in layer 2, its whiteout in layer 3
  int whiteouts = 0;
  for (const std::string& p : removed) {
    struct stat st;
    ASSERT_EQ(lstat(p.c_str(), &st), 0);
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0) ++whiteouts;
  }
  EXPECT_EQ(whiteouts, 1);
  int opaque = 0;
  for (const std::string& p : SnapshotFiles("/fs/opaque")) {
    char v[2] = {};
    if (getxattr(p.c_str(), "trusted.overlay.opaque", v, 1) == 1 && v[0] == 'y')
      ++opaque;
  }
  EXPECT_EQ(opaque, 1);
  // busybox shares the base layer: pulling it unpacks nothing new.
  size_t before =
      fs::directory_iterator(daemon().root() +
                             "/snapshots/overlayfs/snapshots") ==
              fs::directory_iterator()
          ? 0
          : std::distance(
                fs::directory_iterator(daemon().root() +
                                       "/snapshots/overlayfs/snapshots"),
                fs::directory_iterator());
  ASSERT_TRUE(Pull(images().Ref("busybox:latest")).ok());
  size_t after =
      std::distance(fs::directory_iterator(daemon().root() +
                                           "/snapshots/overlayfs/snapshots"),
                    fs::directory_iterator());
  EXPECT_EQ(before, after);
}

TEST_F(ImageServiceTest, MissingImagesAndBadReferences) {
  grpc::Status s = Pull(images().Ref("busybox:no-such-tag"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("no-such-tag"));
  EXPECT_EQ(Pull(images().Ref("nothing-here:1")).error_code(),
            grpc::StatusCode::NOT_FOUND);
  s = Pull("Not A Reference");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Pull("").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(Status(images().Ref("busybox:latest")).has_image());
}

TEST_F(ImageServiceTest, ImageFsInfoCountsTheSnapshots) {
  ASSERT_TRUE(Pull(images().Ref("busybox:latest")).ok());
  grpc::ClientContext ctx;
  runtime::v1::ImageFsInfoResponse info;
  ASSERT_TRUE(daemon().images().ImageFsInfo(&ctx, {}, &info).ok());
  ASSERT_EQ(info.image_filesystems_size(), 1);
  EXPECT_GT(info.image_filesystems(0).used_bytes().value(), 1000000u);
  // At least one inode per busybox applet link.
  absl::StatusOr<RunResult> applets =
      RunAndCapture(SpawnOptions{{"/bin/busybox", "--list"}});
  ASSERT_TRUE(applets.ok());
  EXPECT_GT(info.image_filesystems(0).inodes_used().value(),
            static_cast<uint64_t>(
                std::count(applets->out.begin(), applets->out.end(), '\n')));
  EXPECT_EQ(info.image_filesystems(0).fs_id().mountpoint(),
            daemon().root() + "/snapshots/overlayfs");
}

TEST_F(ImageServiceTest, BasicAuthRegistry) {
  absl::StatusOr<std::unique_ptr<Registry>> secured =
      Registry::Start({"alice", "s3cret"});
  ASSERT_TRUE(secured.ok()) << secured.status();
  absl::StatusOr<TestImages> pushed = PushTestImages(**secured, "alice:s3cret");
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  // This daemon only knows the suite's registry as plain HTTP; restart it
  // knowing the secured one too.
  std::string ref = pushed->Ref("pause:3.9");
  grpc::Status anonymous = Pull(ref);
  EXPECT_NE(anonymous.error_code(), grpc::StatusCode::OK);

  auto daemon2 = Daemon::Start({absl::StrCat("[registry]\nplain_http = [\"",
                                             (*secured)->host(), "\"]\n")});
  ASSERT_TRUE(daemon2.ok()) << daemon2.status();
  auto pull = [&](runtime::v1::AuthConfig auth) {
    grpc::ClientContext ctx;
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(ref);
    *request.mutable_auth() = auth;
    runtime::v1::PullImageResponse response;
    return (*daemon2)->images().PullImage(&ctx, request, &response);
  };
  grpc::Status no_creds = pull({});
  EXPECT_EQ(no_creds.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(no_creds.error_message(), HasSubstr("username and password"));
  runtime::v1::AuthConfig wrong;
  wrong.set_username("alice");
  wrong.set_password("nope");
  EXPECT_EQ(pull(wrong).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  runtime::v1::AuthConfig right;
  right.set_username("alice");
  right.set_password("s3cret");
  grpc::Status ok = pull(right);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  runtime::v1::AuthConfig encoded;
  encoded.set_auth(absl::Base64Escape("alice:s3cret"));
  EXPECT_TRUE(pull(encoded).ok());
}

// The biggest file named "data" under `dir`: a blob in the registry's store,
// a partial download in cradle's ingest dir. The daemon may commit and
// remove ingests during the walk, so errors only end it.
struct DataFile {
  std::string path;
  uintmax_t size = 0;
};
DataFile LargestDataFile(const std::string& dir) {
  DataFile largest;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != "data") continue;
    std::error_code size_ec;
    uintmax_t size = fs::file_size(it->path(), size_ec);  // fails for a dir
    if (!size_ec && size > largest.size) largest = {it->path(), size};
  }
  return largest;
}

TEST_F(ImageServiceTest, ABlobWithTheWrongDigestFailsThePullAndLeavesNothing) {
  absl::StatusOr<std::unique_ptr<Registry>> bad = Registry::Start();
  ASSERT_TRUE(bad.ok()) << bad.status();
  absl::StatusOr<TestImages> pushed = PushTestImages(**bad);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  // Corrupt busybox's layer in the registry's storage: the registry serves
  // the changed bytes under the old digest.
  DataFile biggest = LargestDataFile((*bad)->dir() + "/data");
  ASSERT_GT(biggest.size, 100000u);
  {
    std::fstream f(biggest.path,
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(biggest.size / 2);
    f.put('\x7f');
  }
  auto daemon2 = Daemon::Start(
      {absl::StrCat("[registry]\nplain_http = [\"", (*bad)->host(), "\", \"",
                    registry().host(), "\"]\n")});
  ASSERT_TRUE(daemon2.ok()) << daemon2.status();
  auto pull = [&](const std::string& image) {
    grpc::ClientContext ctx;
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    runtime::v1::PullImageResponse response;
    return (*daemon2)->images().PullImage(&ctx, request, &response);
  };
  grpc::Status s = pull(pushed->Ref("busybox:latest"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("digest mismatch"));
  {
    grpc::ClientContext ctx;
    runtime::v1::ListImagesResponse list;
    ASSERT_TRUE((*daemon2)->images().ListImages(&ctx, {}, &list).ok());
    EXPECT_EQ(list.images_size(), 0);
  }
  EXPECT_TRUE(fs::is_empty((*daemon2)->root() + "/content/ingest"))
      << "no half blob kept";
  // The same image from a good registry pulls fine afterwards.
  grpc::Status good = pull(images().Ref("busybox:latest"));
  EXPECT_TRUE(good.ok()) << good.error_message();
}

TEST_F(ImageServiceTest, APullKilledMidwayResumesAfterRestart) {
  absl::StatusOr<std::unique_ptr<Registry>> source = Registry::Start();
  ASSERT_TRUE(source.ok()) << source.status();
  absl::StatusOr<TestImages> pushed =
      PushTestImages(**source, "", /*big_mb=*/256);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  auto daemon2 = Daemon::Start({absl::StrCat("[registry]\nplain_http = [\"",
                                             (*source)->host(), "\"]\n")});
  ASSERT_TRUE(daemon2.ok()) << daemon2.status();
  std::string ref = pushed->Ref("big:latest");
  auto pull = [&](Daemon& d) {
    grpc::ClientContext ctx;
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(ref);
    runtime::v1::PullImageResponse response;
    return d.images().PullImage(&ctx, request, &response);
  };
  std::thread puller([&] { (void)pull(**daemon2); });
  // SIGKILL the daemon as soon as the big layer is partly downloaded. The
  // puller is joined before any assertion so a failure cannot leave it
  // running.
  std::string ingest_dir = (*daemon2)->root() + "/content/ingest";
  uintmax_t partial = 0;
  for (int i = 0; i < 4000 && partial < (8u << 20); ++i) {
    partial = std::max(partial, LargestDataFile(ingest_dir).size);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  absl::Status killed = (*daemon2)->Stop(SIGKILL);
  puller.join();
  ASSERT_TRUE(killed.ok()) << killed;
  ASSERT_GE(partial, 8u << 20) << "never saw the download in progress";
  ASSERT_FALSE(fs::is_empty(ingest_dir))
      << "the partial download must survive the crash";

  ASSERT_TRUE((*daemon2)->Restart().ok());
  grpc::Status s = pull(**daemon2);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT((*daemon2)->Log(), HasSubstr("resuming"))
      << "it restarted from zero";
  EXPECT_TRUE(fs::is_empty(ingest_dir))
      << "no ingest left once the pull is done";
}

// A config that names no registry: the suite's registry on 127.0.0.1 is
// still reached, over plain http once its TLS handshake fails, as
// containerd does for registries on this machine.
class UnlistedLocalRegistryTest : public ImageServiceTest {
 protected:
  std::string ExtraConfig() override { return ""; }
};

TEST_F(UnlistedLocalRegistryTest, PullsOverPlainHttpAfterTlsFails) {
  std::string ref = images().Ref("busybox:latest");
  std::string id;
  grpc::Status s = Pull(ref, &id);
  ASSERT_TRUE(s.ok()) << s.error_message();
  runtime::v1::ImageStatusResponse st = Status(ref);
  EXPECT_EQ(st.image().id(), id);
  EXPECT_THAT(st.image().repo_digests(),
              Contains(images().registry + "/busybox@" +
                       images().digests.at("busybox:latest")));
  // "localhost" is local too (the same registry by another name).
  std::string port = images().registry.substr(images().registry.find(':'));
  s = Pull("localhost" + port + "/pause:3.9");
  EXPECT_TRUE(s.ok()) << s.error_message();
  // Once per host: later requests to it go straight to http.
  std::string log = daemon().Log();
  size_t first = log.find("registry=" + images().registry + " is local");
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("registry=" + images().registry + " is local", first + 1),
            std::string::npos);
}

}  // namespace
}  // namespace cradle::e2e
