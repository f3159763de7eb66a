// The puller and the catalog over a real content store and metadata
// database, with the registry scripted (registry/testing/fake_http.h).
#include "images/puller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "content/local/local_store.h"
#include "images/catalog.h"
#include "metadata/leveldb_store.h"
#include "registry/testing/fake_http.h"

namespace cradle {
namespace {

using ::testing::HasSubstr;

// Counts Open calls per digest; everything else goes to the real store.
class CountingContentStore : public ContentStore {
 public:
  explicit CountingContentStore(ContentStore* real) : real_(real) {}
  absl::StatusOr<ContentInfo> Info(const Digest& d) override {
    return real_->Info(d);
  }
  absl::StatusOr<std::unique_ptr<BlobReader>> Open(const Digest& d) override {
    absl::MutexLock lock(&mu_);
    ++opens_[d.ToString()];
    return real_->Open(d);
  }
  absl::StatusOr<std::unique_ptr<BlobWriter>> Writer(
      absl::string_view ref, const Descriptor& want) override {
    return real_->Writer(ref, want);
  }
  absl::StatusOr<std::vector<IngestStatus>> ListIngests() override {
    return real_->ListIngests();
  }
  absl::StatusOr<IngestStatus> Status(absl::string_view ref) override {
    return real_->Status(ref);
  }
  absl::Status Abort(absl::string_view ref) override {
    return real_->Abort(ref);
  }
  absl::Status Walk(
      const ContentFilter& f,
      absl::FunctionRef<absl::Status(const ContentInfo&)> fn) override {
    return real_->Walk(f, fn);
  }
  absl::Status Delete(const Digest& d) override { return real_->Delete(d); }
  absl::StatusOr<ContentInfo> Update(const Digest& d,
                                     const Labels& labels) override {
    return real_->Update(d, labels);
  }
  int opens(const Digest& d) {
    absl::MutexLock lock(&mu_);
    return opens_[d.ToString()];
  }

 private:
  ContentStore* real_;
  absl::Mutex mu_;
  std::map<std::string, int> opens_;
};

class PullerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = absl::StrCat(
        getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
    content_ = *OpenLocalContentStore(dir + "/content");
    metadata_ = *OpenMetadataStore(dir + "/metadata");
    counting_ = std::make_unique<CountingContentStore>(content_.get());
    registry_ = std::make_unique<RegistryClient>(&http_, RegistryHosts({}));
    // No snapshotter: these images have no layers to unpack, or fail first.
    puller_ = std::make_unique<ImagePuller>(registry_.get(), counting_.get(),
                                            metadata_.get(), nullptr, nullptr,
                                            PullerOptions{});
  }

  // Serves r.example/app:v1 with this config and these layers (blobs).
  void Serve(const std::string& config, const std::vector<std::string>& layers,
             int64_t announced_config_size = -1) {
    config_digest_ = Digest::OfBytes(config);
    std::string layer_json;
    for (const std::string& layer : layers) {
      absl::StrAppend(
          &layer_json, layer_json.empty() ? "" : ",",
          R"({"mediaType":"application/vnd.oci.image.layer.v1.tar",)",
          R"("digest":")", Digest::OfBytes(layer).ToString(), R"(","size":)",
          layer.size(), "}");
      http_.On(
          "https://r.example/v2/app/blobs/" + Digest::OfBytes(layer).ToString(),
          [this, layer](const HttpRequest&) {
            if (throw_on_layers_) throw std::runtime_error("boom");
            return Respond(200, layer);
          });
    }
    manifest_ = absl::StrCat(
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
        R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json",)",
        R"("digest":")", config_digest_.ToString(), R"(","size":)",
        announced_config_size >= 0 ? announced_config_size
                                   : static_cast<int64_t>(config.size()),
        R"(},"layers":[)", layer_json, "]}");
    http_.On("https://r.example/v2/app/manifests/",
             [this](const HttpRequest&) { return Respond(200, manifest_); });
    http_.On("https://r.example/v2/app/blobs/" + config_digest_.ToString(),
             [config](const HttpRequest&) { return Respond(200, config); });
  }

  absl::StatusOr<PulledImage> Pull() {
    return puller_->Pull(*ImageReference::Parse("r.example/app:v1"), {});
  }

  static std::string Config(const std::string& user,
                            const std::vector<std::string>& layers = {},
                            size_t padding = 0) {
    std::string diff_ids;
    for (const std::string& l : layers) {
      absl::StrAppend(&diff_ids, diff_ids.empty() ? "" : ",", "\"",
                      Digest::OfBytes(l).ToString(), "\"");
    }
    return absl::StrCat(R"({"os":"linux","architecture":"amd64",)",
                        R"("config":{"User":")", user, R"("},)",
                        R"("rootfs":{"type":"layers","diff_ids":[)", diff_ids,
                        "]}", std::string(padding, ' '), "}");
  }

  FakeHttp http_;
  std::unique_ptr<ContentStore> content_;
  std::unique_ptr<MetadataStore> metadata_;
  std::unique_ptr<CountingContentStore> counting_;
  std::unique_ptr<RegistryClient> registry_;
  std::unique_ptr<ImagePuller> puller_;
  Digest config_digest_ = Digest::OfBytes("");
  std::string manifest_;
  std::atomic<bool> throw_on_layers_{false};
};

TEST_F(PullerTest, AnImageWithoutLayersPulls) {
  Serve(Config("1000"), {});
  absl::StatusOr<PulledImage> pulled = Pull();
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->config_digest, config_digest_);
}

// Before: any config size was fetched and read whole, by the pull and by
// every ImageStatus/ListImages after it.
TEST_F(PullerTest, AnOversizedConfigIsRefusedBeforeItIsFetched) {
  Serve(Config("1000", {}, oci::kMaxConfigSize), {});
  absl::Status s = Pull().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr(config_digest_.ToString()));
  EXPECT_THAT(s.message(), HasSubstr("MiB"));
  for (const HttpRequest& r : http_.requests)
    EXPECT_THAT(r.url, ::testing::Not(HasSubstr(config_digest_.ToString())));
}

TEST_F(PullerTest, AConfigAtTheCapPulls) {
  std::string config = Config("0");
  config = Config("0", {}, oci::kMaxConfigSize - config.size());
  ASSERT_EQ(static_cast<int64_t>(config.size()), oci::kMaxConfigSize);
  Serve(config, {});
  absl::StatusOr<PulledImage> pulled = Pull();
  EXPECT_TRUE(pulled.ok()) << pulled.status();
}

// Before: the layer count was checked at unpack, after every download.
TEST_F(PullerTest, TooManyLayersAreRefusedBeforeAnyDownload) {
  PullerOptions options;
  options.unpack_limits.max_layers = 2;
  puller_ =
      std::make_unique<ImagePuller>(registry_.get(), counting_.get(),
                                    metadata_.get(), nullptr, nullptr, options);
  std::vector<std::string> layers = {"layer one", "layer two", "layer three"};
  Serve(Config("0", layers), layers);
  absl::Status s = Pull().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.message(), HasSubstr("has 3 layers; at most 2"));
  EXPECT_THAT(s.message(), HasSubstr("images.max_layers"));
  for (const HttpRequest& r : http_.requests)
    EXPECT_THAT(r.url, ::testing::Not(HasSubstr("/blobs/")));
}

// Before: an exception on a download thread ended the process.
TEST_F(PullerTest, AThrowOnADownloadThreadFailsOnlyThePull) {
  std::vector<std::string> layers = {"layer one", "layer two", "layer three"};
  Serve(Config("0", layers), layers);
  throw_on_layers_ = true;
  absl::StatusOr<PulledImage> pulled;
  ASSERT_NO_THROW(pulled = Pull());
  EXPECT_EQ(pulled.status().code(), absl::StatusCode::kInternal)
      << pulled.status();
  EXPECT_THAT(pulled.status().message(), HasSubstr("boom"));
}

// Before: every List re-read and re-parsed every manifest and config.
TEST_F(PullerTest, CatalogReadsAConfigOnceAcrossPolls) {
  Serve(Config("1000:1000"), {});
  ASSERT_TRUE(Pull().ok());
  ImageCatalog catalog(counting_.get(), metadata_.get(), "k8s.io");
  int before = counting_->opens(config_digest_);
  for (int poll = 0; poll < 5; ++poll) {
    absl::StatusOr<std::vector<CatalogImage>> images = catalog.List();
    ASSERT_TRUE(images.ok()) << images.status();
    ASSERT_EQ(images->size(), 1u);
    EXPECT_EQ((*images)[0].id, config_digest_);
    EXPECT_EQ((*images)[0].config.user, "1000:1000");
    absl::StatusOr<CatalogImage> found = catalog.Find("r.example/app:v1");
    ASSERT_TRUE(found.ok()) << found.status();
  }
  EXPECT_EQ(counting_->opens(config_digest_) - before, 1);

  // A removed image is gone from the catalog (and from its cache).
  ASSERT_TRUE(catalog.Remove("r.example/app:v1").ok());
  EXPECT_TRUE(catalog.List()->empty());
}

}  // namespace
}  // namespace cradle
