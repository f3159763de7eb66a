#include "containerd_api/images_service.h"

#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "containerd_api/api_context.h"
#include "containerd_api/event_exchange.h"
#include "containerd_api/proto/events/image.pb.h"
#include "containerd_api/proto/services/images/v1/images.grpc.pb.h"
#include "images/garbage.h"

namespace cradle::containerd_api {
namespace {

namespace pb = ::containerd::services::images::v1;

// cradle's own garbage-collection labels: kept on the record, never shown
// to or taken from a containerd client (the CRI refuses them too).
constexpr char kCradleGcPrefix[] = "cradle.io/gc.";

bool Hidden(absl::string_view key) {
  return absl::StartsWith(key, kCradleGcPrefix);
}

// The shared checks (api_context.h), and cradle's reserved prefix.
absl::Status CheckImageLabels(
    const google::protobuf::Map<std::string, std::string>& labels) {
  if (absl::Status s = CheckLabels("image", labels); !s.ok()) return s;
  for (const auto& [key, value] : labels) {
    if (Hidden(key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "image label \"", key, "\" is reserved: ", kCradleGcPrefix,
          "* labels are cradle's own"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Descriptor> FromProto(const ::containerd::types::Descriptor& d,
                                     absl::string_view image) {
  absl::StatusOr<Digest> digest = Digest::Parse(d.digest());
  if (!digest.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("image ", image, ": target digest \"", d.digest(),
                     "\" is not a digest: ", digest.status().message()));
  }
  if (d.media_type().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("image ", image, ": target media type must be set"));
  }
  Descriptor out;
  out.media_type = d.media_type();
  out.digest = *digest;
  out.size = d.size();
  out.annotations = {d.annotations().begin(), d.annotations().end()};
  return out;
}

void ToProto(const ImageRecord& r, pb::Image* out) {
  out->set_name(r.name);
  for (const auto& [key, value] : r.labels) {
    if (!Hidden(key)) (*out->mutable_labels())[key] = value;
  }
  ::containerd::types::Descriptor* t = out->mutable_target();
  t->set_media_type(r.target.media_type);
  t->set_digest(r.target.digest.ToString());
  t->set_size(r.target.size);
  t->mutable_annotations()->insert(r.target.annotations.begin(),
                                   r.target.annotations.end());
  *out->mutable_created_at() = containerd_api::ToProto(r.created_at);
  *out->mutable_updated_at() = containerd_api::ToProto(r.updated_at);
}

// Fields containerd's image filters name.
Filter::Lookup ImageFields(const ImageRecord& r) {
  Labels shown;
  for (const auto& [key, value] : r.labels)
    if (!Hidden(key)) shown[key] = value;
  std::map<std::string, std::string> fields = {
      {"name", r.name},
      {"target.digest", r.target.digest.ToString()},
      {"target.mediatype", r.target.media_type},
      {"target.media_type", r.target.media_type},
  };
  Filter::Lookup labels = FieldsAndLabels({}, shown);
  return [fields, labels](const std::vector<std::string>& path,
                          std::string* value) {
    if (!path.empty() && path[0] == "labels") return labels(path, value);
    auto it = fields.find(absl::StrJoin(path, "."));
    if (it == fields.end()) return false;
    *value = it->second;
    return true;
  };
}

class ImagesService final : public pb::Images::Service {
 public:
  explicit ImagesService(const ContainerdApiDeps& deps) : deps_(deps) {}

  grpc::Status Get(grpc::ServerContext* ctx, const pb::GetImageRequest* request,
                   pb::GetImageResponse* response) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    absl::StatusOr<ImageRecord> r = Load(*ns, request->name());
    if (!r.ok()) return ToGrpc(r.status());
    ToProto(*r, response->mutable_image());
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* ctx,
                    const pb::ListImagesRequest* request,
                    pb::ListImagesResponse* response) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    absl::StatusOr<Filter> filter =
        Filter::Parse({request->filters().begin(), request->filters().end()});
    if (!filter.ok()) return ToGrpc(filter.status());
    absl::StatusOr<std::vector<ImageRecord>> images =
        deps_.metadata->ListImages(*ns);
    if (!images.ok()) return ToGrpc(images.status());
    for (const ImageRecord& r : *images) {
      if (filter->Matches(ImageFields(r))) ToProto(r, response->add_images());
    }
    return grpc::Status::OK;
  }

  grpc::Status Create(grpc::ServerContext* ctx,
                      const pb::CreateImageRequest* request,
                      pb::CreateImageResponse* response) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    const pb::Image& image = request->image();
    if (image.name().empty()) {
      return ToGrpc(absl::InvalidArgumentError("image name must be set"));
    }
    if (absl::Status s = CheckImageLabels(image.labels()); !s.ok())
      return ToGrpc(s);
    absl::StatusOr<Descriptor> target = FromProto(image.target(), image.name());
    if (!target.ok()) return ToGrpc(target.status());
    ImageRecord r;
    r.name = image.name();
    r.target = *std::move(target);
    r.labels = {image.labels().begin(), image.labels().end()};
    {
      absl::MutexLock lock(&mu_);
      // A new name for a target another image already has (`ctr images
      // tag`) keeps the unpacked snapshot that image keeps.
      if (absl::Status s = AdoptSnapshotRefs(*ns, r); !s.ok()) return ToGrpc(s);
      MetadataBatch batch;
      batch.Create(*ns, r);
      absl::Status s = deps_.metadata->Apply(batch);
      if (s.code() == absl::StatusCode::kAlreadyExists) {
        return ToGrpc(absl::AlreadyExistsError(absl::StrCat(
            "image \"", r.name, "\" already exists in namespace ", *ns)));
      }
      if (!s.ok()) return ToGrpc(s);
    }
    absl::StatusOr<ImageRecord> stored = Load(*ns, r.name);
    if (!stored.ok()) return ToGrpc(stored.status());
    ToProto(*stored, response->mutable_image());
    pb::ImageCreate event;
    event.set_name(r.name);
    *event.mutable_labels() = response->image().labels();
    Publish(*ns, "/images/create", event);
    return grpc::Status::OK;
  }

  grpc::Status Update(grpc::ServerContext* ctx,
                      const pb::UpdateImageRequest* request,
                      pb::UpdateImageResponse* response) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    const pb::Image& image = request->image();
    if (image.name().empty()) {
      return ToGrpc(absl::InvalidArgumentError("image name must be set"));
    }
    if (absl::Status s = CheckImageLabels(image.labels()); !s.ok())
      return ToGrpc(s);
    {
      absl::MutexLock lock(&mu_);
      absl::StatusOr<ImageRecord> old = Load(*ns, image.name());
      if (!old.ok()) return ToGrpc(old.status());
      ImageRecord r = *old;
      auto replace_labels = [&] {
        Labels kept;
        for (const auto& [key, value] : r.labels)
          if (Hidden(key)) kept[key] = value;
        kept.insert(image.labels().begin(), image.labels().end());
        r.labels = std::move(kept);
      };
      auto& annotations = image.target().annotations();
      std::vector<std::string> paths(request->update_mask().paths().begin(),
                                     request->update_mask().paths().end());
      if (paths.empty()) paths = {"labels", "target"};
      for (const std::string& path : paths) {
        if (absl::StartsWith(path, "labels.")) {
          std::string key = path.substr(7);
          if (Hidden(key)) {
            return ToGrpc(absl::InvalidArgumentError(
                absl::StrCat("image label \"", key, "\" is reserved")));
          }
          auto it = image.labels().find(key);
          if (it == image.labels().end()) {
            r.labels.erase(key);
          } else {
            r.labels[key] = it->second;
          }
        } else if (absl::StartsWith(path, "annotations.")) {
          std::string key = path.substr(12);
          auto it = annotations.find(key);
          if (it == annotations.end()) {
            r.target.annotations.erase(key);
          } else {
            r.target.annotations[key] = it->second;
          }
        } else if (path == "labels") {
          replace_labels();
        } else if (path == "annotations") {
          r.target.annotations = {annotations.begin(), annotations.end()};
        } else if (path == "target") {
          absl::StatusOr<Descriptor> target =
              FromProto(image.target(), image.name());
          if (!target.ok()) return ToGrpc(target.status());
          r.target = *std::move(target);
        } else {
          return ToGrpc(absl::InvalidArgumentError(absl::StrCat(
              "cannot update field \"", path, "\" of image ", image.name(),
              ": labels, target, annotations and their .<key> can be "
              "updated")));
        }
      }
      if (r.target.digest.ToString() != old->target.digest.ToString()) {
        // The snapshot refs name the old target's unpacked chain: kept, they
        // would pin it for as long as the image lives, and claim an unpack
        // the new target may not have. The new target's chain is kept only
        // if another image already keeps it (as Create does).
        for (auto it = r.labels.begin(); it != r.labels.end();) {
          it = absl::StartsWith(it->first, kGcRefSnapshotPrefix)
                   ? r.labels.erase(it)
                   : std::next(it);
        }
        if (absl::Status s = AdoptSnapshotRefs(*ns, r); !s.ok())
          return ToGrpc(s);
      }
      MetadataBatch batch;
      batch.Add(MetadataBatch::Action::kUpdate, *ns, r);
      if (absl::Status s = deps_.metadata->Apply(batch); !s.ok())
        return ToGrpc(s);
    }
    absl::StatusOr<ImageRecord> stored = Load(*ns, image.name());
    if (!stored.ok()) return ToGrpc(stored.status());
    ToProto(*stored, response->mutable_image());
    pb::ImageUpdate event;
    event.set_name(image.name());
    *event.mutable_labels() = response->image().labels();
    Publish(*ns, "/images/update", event);
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* ctx,
                      const pb::DeleteImageRequest* request,
                      google::protobuf::Empty*) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    if (request->name().empty()) {
      return ToGrpc(absl::InvalidArgumentError("image name must be set"));
    }
    {
      absl::MutexLock lock(&mu_);
      ImageRecord r;
      r.name = request->name();
      MetadataBatch batch;
      batch.Delete(*ns, r);
      absl::Status s = deps_.metadata->Apply(batch);
      if (s.code() == absl::StatusCode::kNotFound) {
        return ToGrpc(absl::NotFoundError(absl::StrCat(
            "image \"", r.name, "\" not found in namespace ", *ns)));
      }
      if (!s.ok()) return ToGrpc(s);
    }
    pb::ImageDelete event;
    event.set_name(request->name());
    Publish(*ns, "/images/delete", event);
    if (request->sync() && deps_.gc != nullptr) {
      absl::StatusOr<GcReport> report = deps_.gc->Collect();
      if (!report.ok()) {
        return ToGrpc(absl::Status(
            report.status().code(),
            absl::StrCat("image deleted, but garbage collection failed: ",
                         report.status().message())));
      }
    }
    return grpc::Status::OK;
  }

 private:
  // Copies onto `r` the snapshot refs of the other images of `ns` with r's
  // target: that unpacked chain is r's too. Called under mu_.
  absl::Status AdoptSnapshotRefs(absl::string_view ns, ImageRecord& r) {
    absl::StatusOr<std::vector<ImageRecord>> all =
        deps_.metadata->ListImages(ns);
    if (!all.ok()) return all.status();
    for (const ImageRecord& other : *all) {
      if (other.name == r.name ||
          other.target.digest.ToString() != r.target.digest.ToString()) {
        continue;
      }
      for (const auto& [key, value] : other.labels)
        if (absl::StartsWith(key, kGcRefSnapshotPrefix)) r.labels[key] = value;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ImageRecord> Load(absl::string_view ns,
                                   absl::string_view name) {
    if (name.empty())
      return absl::InvalidArgumentError("image name must be set");
    absl::StatusOr<ImageRecord> r = deps_.metadata->GetImage(ns, name);
    if (r.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(
          absl::StrCat("image \"", name, "\" not found in namespace ", ns));
    }
    return r;
  }

  void Publish(absl::string_view ns, absl::string_view topic,
               const google::protobuf::Message& event) {
    if (deps_.events != nullptr) deps_.events->Publish(ns, topic, event);
  }

  const ContainerdApiDeps& deps_;
  // Serialises read-modify-write of image records.
  absl::Mutex mu_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewImagesService(const ContainerdApiDeps& deps) {
  return std::make_unique<ImagesService>(deps);
}

}  // namespace cradle::containerd_api
