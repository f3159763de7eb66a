#include "metadata/content_store.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace cradle {

std::string NamespacedIngestRef(absl::string_view ns, absl::string_view ref) {
  return absl::StrCat(ns, "/", ref);
}

namespace {

absl::Status WithContext(const absl::Status& s, absl::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

void MergeLabels(Labels& into, const Labels& changes) {
  for (const auto& [k, v] : changes) {
    if (v.empty()) {
      into.erase(k);
    } else {
      into[k] = v;
    }
  }
}

class NamespacedWriter : public BlobWriter {
 public:
  using BlobWriter::Commit;

  NamespacedWriter(std::unique_ptr<BlobWriter> backend, MetadataStore* md,
                   std::string ns)
      : backend_(std::move(backend)), md_(md), ns_(std::move(ns)) {}

  absl::Status Write(absl::string_view data) override {
    return backend_->Write(data);
  }
  int64_t offset() const override { return backend_->offset(); }
  Digest CurrentDigest() const override { return backend_->CurrentDigest(); }
  absl::Status Close() override { return backend_->Close(); }

  absl::Status Commit(int64_t expected_size, const Digest& expected,
                      const Labels& labels) override {
    int64_t size = backend_->offset();
    absl::Status committed = backend_->Commit(expected_size, expected);
    if (!committed.ok() && committed.code() != absl::StatusCode::kAlreadyExists)
      return committed;
    ContentRecord record;
    record.digest = expected;
    record.size = size;
    absl::StatusOr<ContentRecord> existing = md_->GetContent(ns_, expected);
    if (existing.ok()) record.labels = existing->labels;
    MergeLabels(record.labels, labels);
    absl::Status recorded = md_->Apply(MetadataBatch().Put(ns_, record));
    if (!recorded.ok())
      return WithContext(recorded,
                         absl::StrCat("record ", expected.ToString()));
    return committed;
  }

 private:
  std::unique_ptr<BlobWriter> backend_;
  MetadataStore* md_;
  std::string ns_;
};

class View : public ContentStore {
 public:
  using ContentIngester::Writer;
  using ContentStore::Walk;

  View(ContentStore* backend, MetadataStore* md, std::string ns,
       std::string lease)
      : backend_(backend),
        md_(md),
        ns_(std::move(ns)),
        lease_(std::move(lease)) {}

  absl::StatusOr<ContentInfo> Info(const Digest& digest) override {
    absl::StatusOr<ContentRecord> record = md_->GetContent(ns_, digest);
    if (!record.ok()) return record.status();
    absl::StatusOr<ContentInfo> info = backend_->Info(digest);
    if (!info.ok()) return info.status();
    info->labels = record->labels;
    info->created_at = record->created_at;
    info->updated_at = record->updated_at;
    return info;
  }

  absl::StatusOr<std::unique_ptr<BlobReader>> Open(
      const Digest& digest) override {
    if (absl::Status s = md_->GetContent(ns_, digest).status(); !s.ok())
      return s;
    return backend_->Open(digest);
  }

  absl::Status Walk(
      const ContentFilter& filter,
      absl::FunctionRef<absl::Status(const ContentInfo&)> fn) override {
    absl::StatusOr<std::vector<ContentRecord>> records = md_->ListContent(ns_);
    if (!records.ok()) return records.status();
    for (const ContentRecord& r : *records) {
      absl::StatusOr<ContentInfo> info = backend_->Info(r.digest);
      if (!info.ok()) continue;  // collected meanwhile
      info->labels = r.labels;
      info->created_at = r.created_at;
      info->updated_at = r.updated_at;
      if (!filter.Matches(*info)) continue;
      if (absl::Status s = fn(*info); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Delete(const Digest& digest) override {
    ContentRecord record;
    record.digest = digest;
    absl::Status s = md_->Apply(MetadataBatch().Delete(ns_, record));
    if (s.code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(
          absl::StrCat("content ", digest.ToString(), " not found"));
    }
    return s;
  }

  absl::StatusOr<ContentInfo> Update(const Digest& digest,
                                     const Labels& labels) override {
    absl::StatusOr<ContentRecord> record = md_->GetContent(ns_, digest);
    if (!record.ok()) return record.status();
    MergeLabels(record->labels, labels);
    MetadataBatch batch;
    batch.Add(MetadataBatch::Action::kUpdate, ns_, *record);
    if (absl::Status s = md_->Apply(batch); !s.ok()) return s;
    return Info(digest);
  }

  absl::StatusOr<std::unique_ptr<BlobWriter>> Writer(
      absl::string_view ref, const Descriptor& expected) override {
    if (ref.empty()) return absl::InvalidArgumentError("an ingest needs a ref");
    if (!lease_.empty()) {
      // Before any byte: from now on the collector keeps both.
      MetadataBatch batch;
      batch.Put(ns_,
                LeaseResourceRecord{
                    lease_, {LeaseResource::Type::kIngest, std::string(ref)}});
      batch.Put(ns_, LeaseResourceRecord{lease_,
                                         {LeaseResource::Type::kContent,
                                          expected.digest.ToString()}});
      if (absl::Status s = md_->Apply(batch); !s.ok())
        return WithContext(s, absl::StrCat("ingest \"", ref, "\""));
    }
    if (md_->GetContent(ns_, expected.digest).ok()) {
      return absl::AlreadyExistsError(
          absl::StrCat("content ", expected.digest.ToString(), " exists"));
    }
    absl::StatusOr<ContentInfo> shared = backend_->Info(expected.digest);
    if (shared.ok()) {
      // Another namespace fetched it: take it without a download.
      ContentRecord record;
      record.digest = expected.digest;
      record.size = shared->size;
      if (absl::Status s = md_->Apply(MetadataBatch().Put(ns_, record));
          !s.ok()) {
        return s;
      }
      return absl::AlreadyExistsError(
          absl::StrCat("content ", expected.digest.ToString(), " exists"));
    }
    absl::StatusOr<std::unique_ptr<BlobWriter>> w =
        backend_->Writer(NamespacedIngestRef(ns_, ref), expected);
    if (w.status().code() == absl::StatusCode::kAlreadyExists) {
      return Writer(ref, expected);  // committed meanwhile: record it
    }
    if (!w.ok()) return w.status();
    return std::unique_ptr<BlobWriter>(
        new NamespacedWriter(*std::move(w), md_, ns_));
  }

  absl::StatusOr<std::vector<IngestStatus>> ListIngests() override {
    absl::StatusOr<std::vector<IngestStatus>> all = backend_->ListIngests();
    if (!all.ok()) return all.status();
    std::vector<IngestStatus> out;
    std::string prefix = NamespacedIngestRef(ns_, "");
    for (IngestStatus& ingest : *all) {
      if (!absl::StartsWith(ingest.ref, prefix)) continue;
      ingest.ref = ingest.ref.substr(prefix.size());
      out.push_back(std::move(ingest));
    }
    return out;
  }

  absl::StatusOr<IngestStatus> Status(absl::string_view ref) override {
    absl::StatusOr<IngestStatus> s =
        backend_->Status(NamespacedIngestRef(ns_, ref));
    if (s.ok()) s->ref = std::string(ref);
    return s;
  }

  absl::Status Abort(absl::string_view ref) override {
    return backend_->Abort(NamespacedIngestRef(ns_, ref));
  }

 private:
  ContentStore* backend_;
  MetadataStore* md_;
  const std::string ns_;
  const std::string lease_;
};

}  // namespace

std::unique_ptr<ContentStore> NamespacedContentStore::Create(
    ContentStore* backend, MetadataStore* metadata, std::string ns,
    std::string lease_id) {
  return std::make_unique<View>(backend, metadata, std::move(ns),
                                std::move(lease_id));
}

}  // namespace cradle
