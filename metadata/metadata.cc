#include "metadata/metadata.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cradle {
namespace {

template <typename T>
absl::StatusOr<T> GetAs(MetadataStore& store, absl::string_view ns,
                        const Record& prototype) {
  absl::StatusOr<Record> r = store.Get(ns, prototype);
  if (!r.ok()) return r.status();
  return std::get<T>(*std::move(r));
}

template <typename T>
absl::StatusOr<std::vector<T>> ListAs(MetadataStore& store,
                                      absl::string_view ns) {
  absl::StatusOr<std::vector<Record>> all = store.List(ns, T());
  if (!all.ok()) return all.status();
  std::vector<T> out;
  out.reserve(all->size());
  for (Record& r : *all) out.push_back(std::get<T>(std::move(r)));
  return out;
}

}  // namespace

absl::StatusOr<ImageRecord> MetadataStore::GetImage(absl::string_view ns,
                                                    absl::string_view name) {
  ImageRecord proto;
  proto.name = std::string(name);
  return GetAs<ImageRecord>(*this, ns, proto);
}

absl::StatusOr<std::vector<ImageRecord>> MetadataStore::ListImages(
    absl::string_view ns) {
  return ListAs<ImageRecord>(*this, ns);
}

absl::Status MetadataStore::PutImage(absl::string_view ns,
                                     const ImageRecord& image) {
  return Apply(MetadataBatch().Put(ns, image));
}

absl::Status MetadataStore::DeleteImages(
    absl::string_view ns, const std::vector<std::string>& names) {
  MetadataBatch batch;
  for (const std::string& name : names) {
    ImageRecord proto;
    proto.name = name;
    batch.Add(MetadataBatch::Action::kDeleteIfPresent, ns, proto);
  }
  return Apply(batch);
}

absl::StatusOr<ContainerRecord> MetadataStore::GetContainer(
    absl::string_view ns, absl::string_view id) {
  ContainerRecord proto;
  proto.id = std::string(id);
  return GetAs<ContainerRecord>(*this, ns, proto);
}

absl::StatusOr<std::vector<ContainerRecord>> MetadataStore::ListContainers(
    absl::string_view ns) {
  return ListAs<ContainerRecord>(*this, ns);
}

absl::StatusOr<SandboxRecord> MetadataStore::GetSandbox(absl::string_view ns,
                                                        absl::string_view id) {
  SandboxRecord proto;
  proto.id = std::string(id);
  return GetAs<SandboxRecord>(*this, ns, proto);
}

absl::StatusOr<std::vector<SandboxRecord>> MetadataStore::ListSandboxes(
    absl::string_view ns) {
  return ListAs<SandboxRecord>(*this, ns);
}

absl::StatusOr<ContentRecord> MetadataStore::GetContent(absl::string_view ns,
                                                        const Digest& digest) {
  ContentRecord proto;
  proto.digest = digest;
  return GetAs<ContentRecord>(*this, ns, proto);
}

absl::StatusOr<std::vector<ContentRecord>> MetadataStore::ListContent(
    absl::string_view ns) {
  return ListAs<ContentRecord>(*this, ns);
}

absl::StatusOr<std::vector<SnapshotRecord>> MetadataStore::ListSnapshots(
    absl::string_view ns) {
  return ListAs<SnapshotRecord>(*this, ns);
}

absl::StatusOr<LeaseRecord> MetadataStore::CreateLease(absl::string_view ns,
                                                       LeaseRecord lease) {
  if (lease.id.empty()) {
    absl::BitGen gen;
    lease.id = absl::StrFormat("lease-%016x", absl::Uniform<uint64_t>(gen));
  }
  lease.resources.clear();
  if (absl::Status s = Apply(MetadataBatch().Create(ns, lease)); !s.ok())
    return s;
  return GetLease(ns, lease.id);
}

absl::StatusOr<LeaseRecord> MetadataStore::GetLease(absl::string_view ns,
                                                    absl::string_view id) {
  LeaseRecord proto;
  proto.id = std::string(id);
  return GetAs<LeaseRecord>(*this, ns, proto);
}

absl::StatusOr<std::vector<LeaseRecord>> MetadataStore::ListLeases(
    absl::string_view ns) {
  return ListAs<LeaseRecord>(*this, ns);
}

absl::Status MetadataStore::DeleteLease(absl::string_view ns,
                                        absl::string_view id) {
  LeaseRecord proto;
  proto.id = std::string(id);
  return Apply(MetadataBatch().Delete(ns, proto));
}

absl::Status MetadataStore::AddLeaseResource(absl::string_view ns,
                                             absl::string_view lease,
                                             LeaseResource resource) {
  return Apply(MetadataBatch().Put(
      ns, LeaseResourceRecord{std::string(lease), std::move(resource)}));
}

absl::StatusOr<Labels> MetadataStore::GetNamespaceLabels(absl::string_view) {
  return absl::UnimplementedError("namespace labels are not stored here");
}
absl::Status MetadataStore::SetNamespaceLabels(absl::string_view,
                                               const Labels&) {
  return absl::UnimplementedError("namespace labels are not stored here");
}
absl::Status MetadataStore::DeleteNamespaceLabels(absl::string_view) {
  return absl::UnimplementedError("namespace labels are not stored here");
}

}  // namespace cradle
