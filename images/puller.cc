#include "images/puller.h"

#include <atomic>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "snapshots/apply/apply.h"

namespace cradle {
namespace {

constexpr absl::Duration kBusyWait = absl::Milliseconds(100);
constexpr absl::Duration kBusyLimit = absl::Minutes(30);

absl::Status Annotate(const absl::Status& s, absl::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace

std::vector<Digest> ChainIds(const std::vector<Digest>& diff_ids) {
  std::vector<Digest> chain;
  for (const Digest& d : diff_ids) {
    chain.push_back(chain.empty()
                        ? d
                        : Digest::OfBytes(absl::StrCat(chain.back().ToString(),
                                                       " ", d.ToString())));
  }
  return chain;
}

absl::Status ImagePuller::StoreBytes(const std::string& bytes,
                                     const Digest& digest) {
  absl::StatusOr<std::unique_ptr<BlobWriter>> w = content_->Writer(
      absl::StrCat("bytes-", digest.ToString()), bytes.size(), digest);
  if (w.status().code() == absl::StatusCode::kAlreadyExists)
    return absl::OkStatus();
  if (!w.ok()) return w.status();
  if (absl::Status s = (*w)->Write(bytes); !s.ok()) return s;
  absl::Status s = (*w)->Commit(bytes.size(), digest);
  return s.code() == absl::StatusCode::kAlreadyExists ? absl::OkStatus() : s;
}

absl::Status ImagePuller::Fetch(const ImageReference& ref,
                                const oci::Descriptor& desc,
                                const RegistryCredentials& creds) {
  // The ingest is named by the digest: a concurrent pull of the same blob
  // finds it busy and waits for it instead of downloading it again.
  std::string ingest = absl::StrCat("fetch-", desc.digest.ToString());
  absl::Time give_up = absl::Now() + kBusyLimit;
  while (true) {
    if (content_->Info(desc.digest).ok()) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        content_->Writer(ingest, desc.size, desc.digest);
    if (w.status().code() == absl::StatusCode::kAlreadyExists)
      return absl::OkStatus();
    if (w.status().code() == absl::StatusCode::kUnavailable &&
        absl::Now() < give_up) {
      absl::SleepFor(kBusyWait);
      continue;
    }
    if (!w.ok()) return w.status();
    BlobWriter& writer = **w;
    if (writer.offset() > 0) {
      LOG(INFO) << "image=" << ref.String() << " resuming "
                << desc.digest.ToString() << " at " << writer.offset() << "/"
                << desc.size;
    }
    absl::Status s;
    if (writer.offset() < desc.size) {
      s = registry_->FetchBlob(
          ref, desc.digest, writer.offset(), creds,
          [&](int, absl::string_view chunk) {
            if (writer.offset() + static_cast<int64_t>(chunk.size()) >
                desc.size) {
              return absl::DataLossError(
                  absl::StrCat("blob ", desc.digest.ToString(),
                               " is larger than its descriptor says (",
                               desc.size, " bytes)"));
            }
            return writer.Write(chunk);
          });
      if (s.code() == absl::StatusCode::kOutOfRange) {
        // The registry cannot resume: start this blob over.
        w->reset();
        (void)content_->Abort(ingest);
        continue;
      }
    }
    if (s.ok()) s = writer.Commit(desc.size, desc.digest);
    if (s.code() == absl::StatusCode::kAlreadyExists) return absl::OkStatus();
    return Annotate(s, absl::StrCat("fetch ", desc.digest.ToString()));
  }
}

absl::Status ImagePuller::FetchLayers(
    const ImageReference& ref, const std::vector<oci::Descriptor>& layers,
    const RegistryCredentials& creds) {
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status first_error;
  auto worker = [&] {
    for (size_t i = next++; i < layers.size(); i = next++) {
      absl::Status s = Fetch(ref, layers[i], creds);
      if (!s.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = s;
        return;
      }
    }
  };
  int n = std::max(
      1, std::min<int>(options_.max_concurrent_downloads, layers.size()));
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  return first_error;
}

absl::Status ImagePuller::Unpack(const oci::Manifest& manifest,
                                 const oci::ImageConfig& config,
                                 const std::string& image_name) {
  std::vector<Digest> chain = ChainIds(config.diff_ids);
  std::string parent;
  for (size_t i = 0; i < chain.size(); ++i) {
    std::string name = chain[i].ToString();
    if (snapshotter_->Stat(name).ok()) {
      parent = name;
      continue;
    }
    std::string key = absl::StrCat(
        "extract-", absl::Uniform<uint64_t>(absl::BitGen()), "-", name);
    absl::Status s = snapshotter_->Prepare(key, parent, {}).status();
    absl::StatusOr<DirectApplier::Target> target =
        s.ok() ? applier_->ApplyTarget(key)
               : absl::StatusOr<DirectApplier::Target>(s);
    absl::StatusOr<std::unique_ptr<BlobReader>> blob =
        content_->Open(manifest.layers[i].digest);
    absl::StatusOr<ApplyResult> applied =
        !target.ok() ? target.status()
        : !blob.ok() ? blob.status()
                     : ApplyLayer((*blob)->fd(), *target);
    if (applied.ok() && applied->diff_id != config.diff_ids[i]) {
      applied = absl::DataLossError(absl::StrCat(
          "layer ", manifest.layers[i].digest.ToString(), " unpacks to ",
          applied->diff_id.ToString(), " but the image config says ",
          config.diff_ids[i].ToString()));
    }
    if (applied.ok()) {
      s = snapshotter_->Commit(name, key,
                               {{"cradle.io/unpacked-for", image_name}});
      // Another pull committed the same layer first: theirs is as good.
      if (s.code() == absl::StatusCode::kAlreadyExists) s = absl::OkStatus();
    } else {
      s = applied.status();
    }
    if (!s.ok() || snapshotter_->Stat(key).ok())
      (void)snapshotter_->Remove(key);
    if (!s.ok()) {
      return Annotate(s,
                      absl::StrCat("unpack layer ", i, " (",
                                   manifest.layers[i].digest.ToString(), ")"));
    }
    parent = name;
  }
  return absl::OkStatus();
}

absl::StatusOr<PulledImage> ImagePuller::Pull(
    const ImageReference& ref, const RegistryCredentials& creds) {
  absl::StatusOr<FetchedManifest> top =
      registry_->GetManifest(ref, ref.Object(), creds);
  if (!top.ok()) return top.status();
  absl::StatusOr<std::string> kind =
      oci::DocumentKind(top->media_type, top->bytes);
  if (!kind.ok()) return kind.status();
  if (absl::Status s = StoreBytes(top->bytes, top->digest); !s.ok()) return s;

  FetchedManifest manifest_doc = *top;
  if (*kind == "index") {
    absl::StatusOr<oci::Index> index = oci::ParseIndex(top->bytes);
    if (!index.ok()) return index.status();
    absl::StatusOr<oci::Descriptor> chosen =
        oci::ChoosePlatform(*index, oci::HostPlatform());
    if (!chosen.ok()) return chosen.status();
    absl::StatusOr<FetchedManifest> m =
        registry_->GetManifest(ref, chosen->digest.ToString(), creds);
    if (!m.ok()) return m.status();
    if (absl::Status s = StoreBytes(m->bytes, m->digest); !s.ok()) return s;
    manifest_doc = *std::move(m);
  }
  absl::StatusOr<oci::Manifest> manifest =
      oci::ParseManifest(manifest_doc.bytes);
  if (!manifest.ok()) return manifest.status();
  if (absl::Status s = Fetch(ref, manifest->config, creds); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<BlobReader>> config_blob =
      content_->Open(manifest->config.digest);
  if (!config_blob.ok()) return config_blob.status();
  absl::StatusOr<std::string> config_text =
      (*config_blob)->ReadAt(0, (*config_blob)->size());
  if (!config_text.ok()) return config_text.status();
  absl::StatusOr<oci::ImageConfig> config = oci::ParseImageConfig(*config_text);
  if (!config.ok()) return config.status();
  if (config->diff_ids.size() != manifest->layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image ", ref.String(), " has ", manifest->layers.size(),
        " layers but its config lists ", config->diff_ids.size(), " diff ids"));
  }
  if (absl::Status s = FetchLayers(ref, manifest->layers, creds); !s.ok())
    return s;
  if (absl::Status s = Unpack(*manifest, *config, ref.String()); !s.ok())
    return s;

  Image record;
  record.name = ref.String();
  record.target.media_type = top->media_type;
  record.target.digest = top->digest;
  record.target.size = static_cast<int64_t>(top->bytes.size());
  if (absl::Status s = metadata_->PutImage(options_.ns, record); !s.ok())
    return s;
  LOG(INFO) << "image=" << record.name << " pulled: " << manifest->layers.size()
            << " layers, id " << manifest->config.digest.ToString();
  return PulledImage{record, manifest->config.digest};
}

}  // namespace cradle
