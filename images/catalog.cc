#include "images/catalog.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "images/puller.h"
#include "reference/reference.h"

namespace cradle {

absl::StatusOr<std::string> ImageCatalog::ReadBlob(const Digest& digest) {
  absl::StatusOr<std::unique_ptr<BlobReader>> blob = content_->Open(digest);
  if (!blob.ok()) return blob.status();
  return (*blob)->ReadAt(0, (*blob)->size());
}

absl::StatusOr<CatalogImage> ImageCatalog::Resolve(const Image& record) {
  const Digest& target = record.target.digest;
  absl::StatusOr<std::string> doc = ReadBlob(target);
  if (!doc.ok()) return doc.status();
  CatalogImage image;
  image.size = doc->size();
  absl::StatusOr<std::string> kind =
      oci::DocumentKind(record.target.media_type, *doc);
  if (!kind.ok()) return kind.status();
  if (*kind == "index") {
    absl::StatusOr<oci::Index> index = oci::ParseIndex(*doc);
    if (!index.ok()) return index.status();
    absl::StatusOr<oci::Descriptor> chosen =
        oci::ChoosePlatform(*index, oci::HostPlatform());
    if (!chosen.ok()) return chosen.status();
    doc = ReadBlob(chosen->digest);
    if (!doc.ok()) return doc.status();
    image.size += doc->size();
  }
  absl::StatusOr<oci::Manifest> manifest = oci::ParseManifest(*doc);
  if (!manifest.ok()) return manifest.status();
  image.id = manifest->config.digest;
  image.size += manifest->config.size;
  for (const oci::Descriptor& layer : manifest->layers)
    image.size += layer.size;
  absl::StatusOr<std::string> config_text = ReadBlob(manifest->config.digest);
  if (!config_text.ok()) return config_text.status();
  absl::StatusOr<oci::ImageConfig> config = oci::ParseImageConfig(*config_text);
  if (!config.ok()) return config.status();
  image.config = *std::move(config);
  std::vector<Digest> chain = ChainIds(image.config.diff_ids);
  if (!chain.empty()) image.top_chain_id = chain.back();

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
