// Pulls an image: resolves its reference, stores the manifest, config and
// layers in the content store (resumable, digest-checked, several layers at
// once), unpacks the layers into snapshots named by chain id, and records
// the image. Pulls of images that share layers download and unpack them
// once, also when they run at the same time.
//
// A pull holds a lease for everything it writes, labels each document with
// the blobs it references and the image with its top snapshot, and drops
// the lease only after the image record exists: the garbage collector never
// takes a half-pulled image, and takes everything of a removed one.
#ifndef CRADLE_IMAGES_PULLER_H_
#define CRADLE_IMAGES_PULLER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "images/pull_progress.h"
#include "oci/image.h"
#include "reference/reference.h"
#include "registry/registry_client.h"
#include "snapshots/apply/apply.h"
#include "snapshots/snapshotter.h"

namespace cradle {

// OCI image spec: ChainID(L0) = DiffID(L0),
// ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)).
std::vector<Digest> ChainIds(const std::vector<Digest>& diff_ids);

// The label on a pull's lease, whose value is the reference pulled. The
// containerd API refuses to drop such a lease while the pull runs.
inline constexpr char kPullLeaseLabel[] = "cradle.io/pull";

struct PullerOptions {
  std::string ns = "k8s.io";
  int max_concurrent_downloads = 3;
  std::string snapshotter = "overlayfs";  // its name in GC references
  ApplyLimits unpack_limits;              // what one layer may cost
  // A pull whose downloads move no byte for this long is cancelled
  // (DeadlineExceeded); zero: never.
  absl::Duration progress_timeout = absl::Minutes(5);
};

struct PulledImage {
  Image record;
  Digest config_digest;  // the image id
};

// Thread-safe; the parts passed in are not owned and must outlive it.
class ImagePuller {
 public:
  ImagePuller(RegistryClient* registry, ContentStore* content,
              MetadataStore* metadata, Snapshotter* snapshotter,
              DirectApplier* applier, PullerOptions options)
      : registry_(registry),
        content_(content),
        metadata_(metadata),
        snapshotter_(snapshotter),
        applier_(applier),
        options_(options) {}

  // NotFound when the registry has no such image; DataLoss when a blob or a
  // layer does not match its digest; InvalidArgument for a malformed image.
  absl::StatusOr<PulledImage> Pull(const ImageReference& ref,
                                   const RegistryCredentials& creds);

 private:
  // One pull: its lease, the namespace's view of the store under it, and
  // its download progress.
  struct Session {
    std::string lease;
    std::unique_ptr<ContentStore> content;
    PullProgress* progress = nullptr;
  };

  absl::StatusOr<PulledImage> PullTracked(const ImageReference& ref,
                                          const RegistryCredentials& creds,
                                          PullProgress* progress);
  absl::StatusOr<PulledImage> PullWithLease(Session& session,
                                            const ImageReference& ref,
                                            const RegistryCredentials& creds);
  // Downloads one blob into the content store unless it is there already;
  // `downloaded` (if given) says which.
  absl::Status Fetch(Session& session, const ImageReference& ref,
                     const oci::Descriptor& desc,
                     const RegistryCredentials& creds, const Labels& labels,
                     bool* downloaded = nullptr);
  absl::Status StoreBytes(Session& session, const std::string& bytes,
                          const Digest& digest, const Labels& labels);
  absl::Status FetchLayers(Session& session, const ImageReference& ref,
                           const std::vector<oci::Descriptor>& layers,
                           const RegistryCredentials& creds);
  // Returns the top chain id (the snapshot a container starts from).
  absl::StatusOr<std::string> Unpack(Session& session,
                                     const oci::Manifest& manifest,
                                     const oci::ImageConfig& config,
                                     const std::string& image_name);

  RegistryClient* registry_;
  ContentStore* content_;
  MetadataStore* metadata_;
  Snapshotter* snapshotter_;
  DirectApplier* applier_;
  PullerOptions options_;
};

}  // namespace cradle

#endif  // CRADLE_IMAGES_PULLER_H_
