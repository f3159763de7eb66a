#include "images/catalog.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "images/puller.h"
#include "reference/reference.h"
#include "registry/registry_client.h"

namespace cradle {

absl::StatusOr<std::string> ImageCatalog::ReadBlob(const Digest& digest,
                                                   int64_t max_size) {
  absl::StatusOr<std::unique_ptr<BlobReader>> blob = content_->Open(digest);
  if (!blob.ok()) return blob.status();
  if ((*blob)->size() > max_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob ", digest.ToString(), " is ", (*blob)->size(),
                     " bytes, more than the ", max_size, " allowed"));
  }
  return (*blob)->ReadAt(0, (*blob)->size());
}

absl::StatusOr<std::shared_ptr<const ImageCatalog::Resolved>>
ImageCatalog::ResolveContent(const Descriptor& target) {
  const std::string key = target.digest.ToString();
  {
    absl::MutexLock lock(&mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  absl::StatusOr<std::string> doc = ReadBlob(target.digest, kMaxManifestSize);
  if (!doc.ok()) return doc.status();
  auto resolved = std::make_shared<Resolved>();
  resolved->size = doc->size();
  absl::StatusOr<std::string> kind = oci::DocumentKind(target.media_type, *doc);
  if (!kind.ok()) return kind.status();
  if (*kind == "index") {
    absl::StatusOr<oci::Index> index = oci::ParseIndex(*doc);
    if (!index.ok()) return index.status();
    absl::StatusOr<oci::Descriptor> chosen =
        oci::ChoosePlatform(*index, oci::HostPlatform());
    if (!chosen.ok()) return chosen.status();
    doc = ReadBlob(chosen->digest, kMaxManifestSize);
    if (!doc.ok()) return doc.status();
    resolved->size += doc->size();
  }
  absl::StatusOr<oci::Manifest> manifest = oci::ParseManifest(*doc);
  if (!manifest.ok()) return manifest.status();
  resolved->id = manifest->config.digest;
  resolved->size += manifest->config.size;
  for (const oci::Descriptor& layer : manifest->layers)
    resolved->size += layer.size;
  absl::StatusOr<std::string> config_text =
      ReadBlob(manifest->config.digest, oci::kMaxConfigSize);
  if (!config_text.ok()) return config_text.status();
  absl::StatusOr<oci::ImageConfig> config = oci::ParseImageConfig(*config_text);
  if (!config.ok()) return config.status();
  resolved->config = *std::move(config);
  std::vector<Digest> chain = ChainIds(resolved->config.diff_ids);
  if (!chain.empty()) resolved->top_chain_id = chain.back();
  absl::MutexLock lock(&mu_);
  cache_[key] = resolved;
  return resolved;
}

absl::StatusOr<CatalogImage> ImageCatalog::Resolve(const Image& record) {
  // A stat, not a read: a record whose content is gone is not an image.
  if (absl::Status s = content_->Info(record.target.digest).status(); !s.ok())
    return s;
  absl::StatusOr<std::shared_ptr<const Resolved>> resolved =
      ResolveContent(record.target);
  if (!resolved.ok()) return resolved.status();
  CatalogImage image;
  image.id = (*resolved)->id;
  image.size = (*resolved)->size;
  image.config = (*resolved)->config;
  image.top_chain_id = (*resolved)->top_chain_id;

  absl::StatusOr<ImageReference> ref = ImageReference::Parse(record.name);
  image.names.push_back(record.name);
  if (ref.ok()) {
    if (!ref->tag().empty())
      image.repo_tags.push_back(ref->Repository() + ":" + ref->tag());
    image.repo_digests.push_back(ref->Repository() + "@" +
                                 record.target.digest.ToString());
  }
  return image;
}

absl::StatusOr<std::vector<CatalogImage>> ImageCatalog::List() {
  absl::StatusOr<std::vector<Image>> records = metadata_->ListImages(ns_);
  if (!records.ok()) return records.status();
  {
    // Forget what no record points to any more (removed images).
    absl::flat_hash_set<std::string> live;
    for (const Image& record : *records)
      live.insert(record.target.digest.ToString());
    absl::MutexLock lock(&mu_);
    absl::erase_if(
        cache_, [&](const auto& entry) { return !live.contains(entry.first); });
  }
  std::map<std::string, CatalogImage> by_id;
  for (const Image& record : *records) {
    absl::StatusOr<CatalogImage> image = Resolve(record);
    if (!image.ok()) continue;  // content gone: not a usable image
    auto [it, fresh] = by_id.emplace(image->id.ToString(), *image);
    if (fresh) continue;
    CatalogImage& merged = it->second;
    auto merge = [](std::vector<std::string>& into,
                    const std::vector<std::string>& from) {
      for (const std::string& v : from) {
        if (std::find(into.begin(), into.end(), v) == into.end())
          into.push_back(v);
      }
    };
    merge(merged.names, image->names);
    merge(merged.repo_tags, image->repo_tags);
    merge(merged.repo_digests, image->repo_digests);
  }
  std::vector<CatalogImage> out;
  for (auto& [id, image] : by_id) out.push_back(std::move(image));
  return out;
}

absl::StatusOr<CatalogImage> ImageCatalog::Find(absl::string_view spec) {
  absl::StatusOr<std::vector<CatalogImage>> all = List();
  if (!all.ok()) return all.status();
  absl::StatusOr<Digest> as_digest = Digest::Parse(spec);
  absl::StatusOr<ImageReference> as_ref = ImageReference::Parse(spec);
  for (const CatalogImage& image : *all) {
    if (as_digest.ok() && image.id == *as_digest) return image;
    if (!as_ref.ok()) continue;
    std::string name = as_ref->String();
    if (std::find(image.names.begin(), image.names.end(), name) !=
        image.names.end()) {
      return image;
    }
    if (as_ref->digest()) {
      std::string by_digest =
          as_ref->Repository() + "@" + as_ref->digest()->ToString();
      if (std::find(image.repo_digests.begin(), image.repo_digests.end(),
                    by_digest) != image.repo_digests.end()) {
        return image;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("image \"", spec, "\" not found"));
}

absl::Status ImageCatalog::Remove(absl::string_view spec) {
  absl::StatusOr<CatalogImage> image = Find(spec);
  if (!image.ok()) return image.status();
  absl::StatusOr<ImageReference> ref = ImageReference::Parse(spec);
  bool by_tag = !Digest::Parse(spec).ok() && ref.ok() && !ref->digest();
  if (by_tag && image->names.size() > 1) {
    return metadata_->DeleteImages(ns_, {ref->String()});
  }
  return metadata_->DeleteImages(ns_, image->names);
}

}  // namespace cradle
