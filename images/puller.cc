#include "images/puller.h"

#include <atomic>
#include <exception>
#include <system_error>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "failpoint/failpoint.h"
#include "glog/logging.h"
#include "metadata/content_store.h"
#include "metrics/metrics.h"
#include "snapshots/apply/apply.h"

namespace cradle {
namespace {

constexpr absl::Duration kBusyWait = absl::Milliseconds(100);

struct PullerMetrics {
  metrics::Counter* pulls = metrics::Default().AddCounter(
      "cradle_image_pulls_total", "Image pulls finished, by result.",
      {"result"});
  metrics::Histogram* duration = metrics::Default().AddHistogram(
      "cradle_image_pull_duration_seconds",
      "Time from the start of an image pull to its end, by result.",
      {"result"}, metrics::ExponentialBuckets(0.05, 2, 14));
  metrics::Counter* layers = metrics::Default().AddCounter(
      "cradle_image_pull_layers_total",
      "Layers of pulled images: downloaded, or already stored (present).",
      {"source"});
};

PullerMetrics& Metrics() {
  static PullerMetrics* m = new PullerMetrics();
  return *m;
}
constexpr absl::Duration kBusyLimit = absl::Minutes(30);
// A crashed pull's lease runs out after this, and GC takes its leftovers.
constexpr absl::Duration kLeaseLifetime = absl::Hours(6);

absl::Status Annotate(const absl::Status& s, absl::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

std::string ContentRef(absl::string_view what) {
  return absl::StrCat(kGcRefContentPrefix, ".", what);
}

// Runs `fn`, turning anything it throws into an Internal error of the pull:
// no exception may leave a pull's thread (it would end cradled).
template <typename Fn>
auto CatchAll(const ImageReference& ref, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    LOG(ERROR) << "image=" << ref.String() << " pull threw: " << e.what();
    return absl::InternalError(absl::StrCat("pull failed: ", e.what()));
  } catch (...) {
    LOG(ERROR) << "image=" << ref.String() << " pull threw";
    return absl::InternalError("pull failed: unknown exception");
  }
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

absl::Status ImagePuller::StoreBytes(Session& session, const std::string& bytes,
                                     const Digest& digest,
                                     const Labels& labels) {
  Descriptor want;
  want.digest = digest;
  want.size = static_cast<int64_t>(bytes.size());
  absl::StatusOr<std::unique_ptr<BlobWriter>> w =
      session.content->Writer(absl::StrCat("bytes-", digest.ToString()), want);
  if (w.status().code() == absl::StatusCode::kAlreadyExists)
    return absl::OkStatus();
  if (!w.ok()) return w.status();
  if (absl::Status s = (*w)->Write(bytes); !s.ok()) return s;
  absl::Status s = (*w)->Commit(bytes.size(), digest, labels);
  return s.code() == absl::StatusCode::kAlreadyExists ? absl::OkStatus() : s;
}

absl::Status ImagePuller::Fetch(Session& session, const ImageReference& ref,
                                const oci::Descriptor& desc,
                                const RegistryCredentials& creds,
                                const Labels& labels, bool* downloaded) {
  Descriptor want;
  want.media_type = desc.media_type;
  want.digest = desc.digest;
  want.size = desc.size;
  // The ingest is named by the digest: a concurrent pull of the same blob
  // finds it busy and waits for it instead of downloading it again.
  std::string ingest = absl::StrCat("fetch-", desc.digest.ToString());
  absl::Time give_up = absl::Now() + kBusyLimit;
  while (true) {
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        session.content->Writer(ingest, want);
    if (w.status().code() == absl::StatusCode::kAlreadyExists) {
      session.progress->Expect(desc.digest.ToString(), desc.size, desc.size);
      session.progress->Done(desc.digest.ToString());
      return absl::OkStatus();
    }
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
    const std::string blob = desc.digest.ToString();
    if (downloaded != nullptr) *downloaded = true;
    session.progress->Expect(blob, desc.size, writer.offset());
    absl::Status s;
    if (writer.offset() < desc.size) {
      s = registry_->FetchBlob(
          ref, desc.digest, writer.offset(), creds,
          [&](int, absl::string_view chunk) {
            absl::Status written = writer.Write(chunk);
            if (written.ok()) session.progress->Advance(blob, chunk.size());
            return written;
          },
          [&, seen = int64_t{0}](int64_t received) mutable {
            // Bytes a registry resends before the resume offset are
            // skipped, not stored: they still show the transfer moves.
            if (received > seen) {
              seen = received;
              session.progress->Heartbeat();
            }
            return session.progress->Check();
          });
      if (s.code() == absl::StatusCode::kOutOfRange) {
        // The registry cannot resume: start this blob over.
        w->reset();
        (void)session.content->Abort(ingest);
        continue;
      }
    }
    if (s.ok()) s = writer.Commit(desc.size, desc.digest, labels);
    if (s.code() == absl::StatusCode::kAlreadyExists) s = absl::OkStatus();
    if (s.ok()) session.progress->Done(blob);
    return Annotate(s, absl::StrCat("fetch ", desc.digest.ToString()));
  }
}

absl::Status ImagePuller::FetchLayers(
    Session& session, const ImageReference& ref,
    const std::vector<oci::Descriptor>& layers,
    const RegistryCredentials& creds) {
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status first_error;
  auto worker = [&] {
    for (size_t i = next++; i < layers.size(); i = next++) {
      bool downloaded = false;
      absl::Status s = CatchAll(ref, [&] {
        return Fetch(session, ref, layers[i], creds, {}, &downloaded);
      });
      if (s.ok()) {
        Metrics().layers->Inc({downloaded ? "downloaded" : "present"});
      }
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
  for (int i = 1; i < n; ++i) {
    // Out of threads (pids.max, memory): download with fewer.
    try {
      threads.emplace_back(worker);
    } catch (const std::system_error& e) {
      LOG(WARNING) << "image=" << ref.String() << " downloading with "
                   << threads.size() + 1 << " threads: " << e.what();
      break;
    }
  }
  worker();
  for (std::thread& t : threads) t.join();
  return first_error;
}

absl::StatusOr<std::string> ImagePuller::Unpack(Session& session,
                                                const oci::Manifest& manifest,
                                                const oci::ImageConfig& config,
                                                const std::string& image_name) {
  std::vector<Digest> chain = ChainIds(config.diff_ids);
  std::string parent;
  for (size_t i = 0; i < chain.size(); ++i) {
    std::string name = chain[i].ToString();
    std::string key = absl::StrCat(
        "extract-", absl::Uniform<uint64_t>(absl::BitGen()), "-", name);
    // The lease keeps the work in progress and its committed result.
    for (const std::string& k : {key, name}) {
      if (absl::Status s = metadata_->AddLeaseResource(
              options_.ns, session.lease,
              {LeaseResource::Type::kSnapshot,
               absl::StrCat(options_.snapshotter, "/", k)});
          !s.ok()) {
        return s;
      }
    }
    if (snapshotter_->Stat(name).ok()) {
      parent = name;
      continue;
    }
    absl::Status s = snapshotter_->Prepare(key, parent, {}).status();
    absl::StatusOr<DirectApplier::Target> target =
        s.ok() ? applier_->ApplyTarget(key)
               : absl::StatusOr<DirectApplier::Target>(s);
    absl::StatusOr<std::unique_ptr<BlobReader>> blob =
        content_->Open(manifest.layers[i].digest);
    absl::StatusOr<ApplyResult> applied =
        !target.ok() ? target.status()
        : !blob.ok()
            ? blob.status()
            : ApplyLayer((*blob)->fd(), *target, options_.unpack_limits);
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
  return parent;
}

absl::StatusOr<PulledImage> ImagePuller::Pull(
    const ImageReference& ref, const RegistryCredentials& creds) {
  absl::Time start = absl::Now();
  PullProgress progress(ref.String(),
                        {.stall_timeout = options_.progress_timeout});
  absl::StatusOr<PulledImage> pulled = PullTracked(ref, creds, &progress);
  Metrics().pulls->Inc({pulled.ok() ? "ok" : "error"});
  Metrics().duration->Observe({pulled.ok() ? "ok" : "error"},
                              absl::ToDoubleSeconds(absl::Now() - start));
  if (pulled.ok()) {
    PullProgress::Totals t = progress.totals();
    LOG(INFO) << "image=" << ref.String() << " pulled in "
              << absl::FormatDuration(absl::Now() - start) << ": "
              << t.blobs_total << " blobs, " << t.bytes_total << " bytes";
  }
  return pulled;
}

absl::StatusOr<PulledImage> ImagePuller::PullTracked(
    const ImageReference& ref, const RegistryCredentials& creds,
    PullProgress* progress) {
  LeaseRecord lease;
  lease.expires_at = absl::Now() + kLeaseLifetime;
  lease.labels[kPullLeaseLabel] = ref.String();
  absl::StatusOr<LeaseRecord> created =
      metadata_->CreateLease(options_.ns, lease);
  if (!created.ok()) return created.status();
  Session session{created->id,
                  NamespacedContentStore::Create(content_, metadata_,
                                                 options_.ns, created->id),
                  progress};
  absl::StatusOr<PulledImage> pulled =
      CatchAll(ref, [&] { return PullWithLease(session, ref, creds); });
  // Done or failed, the lease goes: a pulled image is held by its record.
  if (absl::Status s = metadata_->DeleteLease(options_.ns, session.lease);
      !s.ok()) {
    LOG(WARNING) << "image=" << ref.String()
                 << " cannot drop the pull lease: " << s;
  }
  return pulled;
}

absl::StatusOr<PulledImage> ImagePuller::PullWithLease(
    Session& session, const ImageReference& ref,
    const RegistryCredentials& creds) {
  absl::StatusOr<FetchedManifest> top =
      registry_->GetManifest(ref, ref.Object(), creds);
  if (!top.ok()) return top.status();
  absl::StatusOr<std::string> kind =
      oci::DocumentKind(top->media_type, top->bytes);
  if (!kind.ok()) return kind.status();

  FetchedManifest manifest_doc = *top;
  if (*kind == "index") {
    absl::StatusOr<oci::Index> index = oci::ParseIndex(top->bytes);
    if (!index.ok()) return index.status();
    Labels refs;
    for (size_t i = 0; i < index->manifests.size(); ++i) {
      refs[ContentRef(absl::StrCat("m.", i))] =
          index->manifests[i].digest.ToString();
    }
    if (absl::Status s = StoreBytes(session, top->bytes, top->digest, refs);
        !s.ok())
      return s;
    absl::StatusOr<oci::Descriptor> chosen =
        oci::ChoosePlatform(*index, oci::HostPlatform());
    if (!chosen.ok()) return chosen.status();
    absl::StatusOr<FetchedManifest> m =
        registry_->GetManifest(ref, chosen->digest.ToString(), creds);
    if (!m.ok()) return m.status();
    manifest_doc = *std::move(m);
  }
  absl::StatusOr<oci::Manifest> manifest =
      oci::ParseManifest(manifest_doc.bytes);
  if (!manifest.ok()) return manifest.status();
  // The unpack would refuse the image anyway: refuse it before downloading.
  int64_t max_layers = options_.unpack_limits.max_layers;
  if (max_layers > 0 &&
      static_cast<int64_t>(manifest->layers.size()) > max_layers) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "image ", ref.String(), " has ", manifest->layers.size(),
        " layers; at most ", max_layers, " are allowed (images.max_layers)"));
  }
  Labels refs = {{ContentRef("config"), manifest->config.digest.ToString()}};
  for (size_t i = 0; i < manifest->layers.size(); ++i) {
    refs[ContentRef(absl::StrCat("l.", i))] =
        manifest->layers[i].digest.ToString();
  }
  if (absl::Status s =
          StoreBytes(session, manifest_doc.bytes, manifest_doc.digest, refs);
      !s.ok()) {
    return s;
  }
  // The config is read whole, here and by every List: bound it first.
  if (manifest->config.size > oci::kMaxConfigSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image ", ref.String(), ": config ", manifest->config.digest.ToString(),
        " is ", manifest->config.size, " bytes, more than the ",
        oci::kMaxConfigSize >> 20, " MiB an image config may have"));
  }
  if (absl::Status s = Fetch(session, ref, manifest->config, creds, {});
      !s.ok())
    return s;
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
  if (absl::Status s = FetchLayers(session, ref, manifest->layers, creds);
      !s.ok())
    return s;
  failpoint::Hit("PullImage.fetched");
  absl::StatusOr<std::string> top_chain =
      Unpack(session, *manifest, *config, ref.String());
  if (!top_chain.ok()) return top_chain.status();
  failpoint::Hit("PullImage.unpacked");

  Image record;
  record.name = ref.String();
  record.target.media_type = top->media_type;
  record.target.digest = top->digest;
  record.target.size = static_cast<int64_t>(top->bytes.size());
  if (!top_chain->empty()) {
    record.labels[absl::StrCat(kGcRefSnapshotPrefix, options_.snapshotter)] =
        *top_chain;
  }
  if (absl::Status s = metadata_->PutImage(options_.ns, record); !s.ok())
    return s;
  LOG(INFO) << "image=" << record.name << " pulled: " << manifest->layers.size()
            << " layers, id " << manifest->config.digest.ToString();
  return PulledImage{record, manifest->config.digest};
}

}  // namespace cradle
