#include "metadata/codec.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "metadata/keys.h"
#include "metadata/records.pb.h"

namespace cradle::metadata_codec {
namespace {

namespace keys = metadata_keys;
namespace pb = ::cradle::metadata;

int64_t Ns(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToUnixNanos(t);
}
absl::Time FromNs(int64_t ns) {
  return ns == 0 ? absl::InfinitePast() : absl::FromUnixNanos(ns);
}

template <typename Map>
Labels ToLabels(const Map& m) {
  return Labels(m.begin(), m.end());
}

const char* TypeName(LeaseResource::Type t) {
  switch (t) {
    case LeaseResource::Type::kContent:
      return "content";
    case LeaseResource::Type::kSnapshot:
      return "snapshot";
    case LeaseResource::Type::kIngest:
      return "ingest";
  }
  return "unknown";
}

// Which kind directory a record type lives in.
struct KindOf {
  const char* operator()(const ImageRecord&) { return keys::kImages; }
  const char* operator()(const ContainerRecord&) { return keys::kContainers; }
  const char* operator()(const SandboxRecord&) { return keys::kSandboxes; }
  const char* operator()(const ContentRecord&) { return keys::kContent; }
  const char* operator()(const SnapshotRecord&) { return keys::kSnapshots; }
  const char* operator()(const LeaseRecord&) { return keys::kLeases; }
  const char* operator()(const LeaseResourceRecord&) {
    return keys::kLeaseResources;
  }
};

void ToProto(const ObjectRecord& r, pb::ObjectRecord* p) {
  p->set_id(r.id);
  p->set_image(r.image);
  p->set_snapshotter(r.snapshotter);
  p->set_snapshot_key(r.snapshot_key);
  p->mutable_labels()->insert(r.labels.begin(), r.labels.end());
  p->set_spec(r.spec);
  p->mutable_extensions()->insert(r.extensions.begin(), r.extensions.end());
  p->set_created_at_ns(Ns(r.created_at));
  p->set_updated_at_ns(Ns(r.updated_at));
}

void FromProto(const pb::ObjectRecord& p, ObjectRecord* r) {
  r->id = p.id();
  r->image = p.image();
  r->snapshotter = p.snapshotter();
  r->snapshot_key = p.snapshot_key();
  r->labels = ToLabels(p.labels());
  r->spec = p.spec();
  r->extensions.insert(p.extensions().begin(), p.extensions().end());
  r->created_at = FromNs(p.created_at_ns());
  r->updated_at = FromNs(p.updated_at_ns());
}

struct Encoder {
  std::string operator()(const ImageRecord& r) {
    pb::ImageRecord p;
    p.set_name(r.name);
    pb::DescriptorRecord* t = p.mutable_target();
    t->set_media_type(r.target.media_type);
    t->set_digest(r.target.digest.ToString());
    t->set_size(r.target.size);
    t->mutable_annotations()->insert(r.target.annotations.begin(),
                                     r.target.annotations.end());
    for (const std::string& u : r.target.urls) t->add_urls(u);
    p.mutable_labels()->insert(r.labels.begin(), r.labels.end());
    p.set_created_at_ns(Ns(r.created_at));
    p.set_updated_at_ns(Ns(r.updated_at));
    return p.SerializeAsString();
  }
  std::string operator()(const ContainerRecord& r) {
    pb::ObjectRecord p;
    ToProto(r, &p);
    p.set_sandbox_id(r.sandbox_id);
    return p.SerializeAsString();
  }
  std::string operator()(const SandboxRecord& r) {
    pb::ObjectRecord p;
    ToProto(r, &p);
    return p.SerializeAsString();
  }
  std::string operator()(const ContentRecord& r) {
    pb::ContentRecord p;
    p.set_digest(r.digest.ToString());
    p.set_size(r.size);
    p.mutable_labels()->insert(r.labels.begin(), r.labels.end());
    p.set_created_at_ns(Ns(r.created_at));
    p.set_updated_at_ns(Ns(r.updated_at));
    return p.SerializeAsString();
  }
  std::string operator()(const SnapshotRecord& r) {
    pb::SnapshotRecord p;
    p.set_snapshotter(r.snapshotter);
    p.set_key(r.key);
    p.mutable_labels()->insert(r.labels.begin(), r.labels.end());
    p.set_created_at_ns(Ns(r.created_at));
    p.set_updated_at_ns(Ns(r.updated_at));
    return p.SerializeAsString();
  }
  std::string operator()(const LeaseRecord& r) {
    pb::LeaseRecord p;
    p.set_id(r.id);
    p.mutable_labels()->insert(r.labels.begin(), r.labels.end());
    p.set_created_at_ns(Ns(r.created_at));
    p.set_expires_at_ns(
        r.expires_at == absl::InfiniteFuture() ? 0 : Ns(r.expires_at));
    return p.SerializeAsString();
  }
  std::string operator()(const LeaseResourceRecord&) { return ""; }
};

template <typename P>
absl::Status Parse(P& p, absl::string_view value, absl::string_view key) {
  if (p.ParseFromArray(value.data(), value.size())) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("metadata record ", key, " does not parse"));
}

absl::StatusOr<Digest> ParseDigest(const std::string& text,
                                   absl::string_view key) {
  absl::StatusOr<Digest> d = Digest::Parse(text);
  if (!d.ok()) {
    return absl::DataLossError(
        absl::StrCat("metadata record ", key, ": ", d.status().message()));
  }
  return d;
}

}  // namespace

absl::StatusOr<std::string> KeyOf(absl::string_view ns, const Record& record) {
  if (absl::Status s = keys::ValidateComponent("namespace", ns); !s.ok())
    return s;
  const char* kind = std::visit(KindOf(), record);
  std::string id;
  absl::Status valid;
  if (auto* r = std::get_if<ImageRecord>(&record)) {
    id = r->name;
    if (id.empty() || absl::StrContains(id, absl::string_view("\0", 1)))
      valid = absl::InvalidArgumentError("an image needs a name");
  } else if (auto* r = std::get_if<ContainerRecord>(&record)) {
    id = r->id;
    valid = keys::ValidateComponent("container id", id);
  } else if (auto* r = std::get_if<SandboxRecord>(&record)) {
    id = r->id;
    valid = keys::ValidateComponent("sandbox id", id);
  } else if (auto* r = std::get_if<ContentRecord>(&record)) {
    id = r->digest.ToString();
  } else if (auto* r = std::get_if<SnapshotRecord>(&record)) {
    valid = keys::ValidateComponent("snapshotter", r->snapshotter);
    if (valid.ok() && r->key.empty())
      valid = absl::InvalidArgumentError("a snapshot record needs a key");
    return valid.ok() ? keys::Snapshot(ns, r->snapshotter, r->key)
                      : absl::StatusOr<std::string>(valid);
  } else if (auto* r = std::get_if<LeaseRecord>(&record)) {
    id = r->id;
    valid = keys::ValidateComponent("lease id", id);
  } else if (auto* r = std::get_if<LeaseResourceRecord>(&record)) {
    valid = keys::ValidateComponent("lease id", r->lease_id);
    if (valid.ok() && r->resource.id.empty())
      valid = absl::InvalidArgumentError("a lease resource needs an id");
    return valid.ok()
               ? keys::LeaseResource(ns, r->lease_id,
                                     TypeName(r->resource.type), r->resource.id)
               : absl::StatusOr<std::string>(valid);
  }
  if (!valid.ok()) return valid;
  return keys::Record(ns, kind, id);
}

std::string PrefixOf(absl::string_view ns, const Record& prototype) {
  if (auto* r = std::get_if<LeaseResourceRecord>(&prototype))
    return keys::LeaseResourcesPrefix(ns, r->lease_id);
  return keys::KindPrefix(ns, std::visit(KindOf(), prototype));
}

std::string Describe(const Record& record) {
  std::string kind = std::visit(KindOf(), record);
  if (auto* r = std::get_if<ImageRecord>(&record))
    return absl::StrCat("image \"", r->name, "\"");
  if (auto* r = std::get_if<ContainerRecord>(&record))
    return absl::StrCat("container \"", r->id, "\"");
  if (auto* r = std::get_if<SandboxRecord>(&record))
    return absl::StrCat("sandbox \"", r->id, "\"");
  if (auto* r = std::get_if<ContentRecord>(&record))
    return absl::StrCat("content ", r->digest.ToString());
  if (auto* r = std::get_if<SnapshotRecord>(&record))
    return absl::StrCat("snapshot ", r->snapshotter, "/", r->key);
  if (auto* r = std::get_if<LeaseRecord>(&record))
    return absl::StrCat("lease \"", r->id, "\"");
  auto& r = std::get<LeaseResourceRecord>(record);
  return absl::StrCat("lease \"", r.lease_id, "\" resource ",
                      TypeName(r.resource.type), " ", r.resource.id);
}

std::string Encode(const Record& record) {
  return std::visit(Encoder(), record);
}

absl::StatusOr<Record> Decode(const Record& prototype, absl::string_view ns,
                              absl::string_view key, absl::string_view value) {
  if (std::holds_alternative<ImageRecord>(prototype)) {
    pb::ImageRecord p;
    if (absl::Status s = Parse(p, value, key); !s.ok()) return s;
    ImageRecord r;
    r.name = p.name();
    r.target.media_type = p.target().media_type();
    absl::StatusOr<Digest> d = ParseDigest(p.target().digest(), key);
    if (!d.ok()) return d.status();
    r.target.digest = *d;
    r.target.size = p.target().size();
    r.target.annotations = ToLabels(p.target().annotations());
    r.target.urls.assign(p.target().urls().begin(), p.target().urls().end());
    r.labels = ToLabels(p.labels());
    r.created_at = FromNs(p.created_at_ns());
    r.updated_at = FromNs(p.updated_at_ns());
    return r;
  }
  if (std::holds_alternative<ContainerRecord>(prototype) ||
      std::holds_alternative<SandboxRecord>(prototype)) {
    pb::ObjectRecord p;
    if (absl::Status s = Parse(p, value, key); !s.ok()) return s;
    if (std::holds_alternative<SandboxRecord>(prototype)) {
      SandboxRecord r;
      FromProto(p, &r);
      return r;
    }
    ContainerRecord r;
    FromProto(p, &r);
    r.sandbox_id = p.sandbox_id();
    return r;
  }
  if (std::holds_alternative<ContentRecord>(prototype)) {
    pb::ContentRecord p;
    if (absl::Status s = Parse(p, value, key); !s.ok()) return s;
    ContentRecord r;
    absl::StatusOr<Digest> d = ParseDigest(p.digest(), key);
    if (!d.ok()) return d.status();
    r.digest = *d;
    r.size = p.size();
    r.labels = ToLabels(p.labels());
    r.created_at = FromNs(p.created_at_ns());
    r.updated_at = FromNs(p.updated_at_ns());
    return r;
  }
  if (std::holds_alternative<SnapshotRecord>(prototype)) {
    pb::SnapshotRecord p;
    if (absl::Status s = Parse(p, value, key); !s.ok()) return s;
    SnapshotRecord r;
    r.snapshotter = p.snapshotter();
    r.key = p.key();
    r.labels = ToLabels(p.labels());
    r.created_at = FromNs(p.created_at_ns());
    r.updated_at = FromNs(p.updated_at_ns());
    return r;
  }
  if (std::holds_alternative<LeaseRecord>(prototype)) {
    pb::LeaseRecord p;
    if (absl::Status s = Parse(p, value, key); !s.ok()) return s;
    LeaseRecord r;
    r.id = p.id();
    r.labels = ToLabels(p.labels());
    r.created_at = FromNs(p.created_at_ns());
    r.expires_at = p.expires_at_ns() == 0 ? absl::InfiniteFuture()
                                          : FromNs(p.expires_at_ns());
    return r;
  }
  // A lease resource: ".../lease-resources/<lease>/<type>/<id>".
  const auto& proto = std::get<LeaseResourceRecord>(prototype);
  absl::string_view rest = key;
  if (!absl::ConsumePrefix(&rest,
                           keys::LeaseResourcesPrefix(ns, proto.lease_id)))
    return absl::InternalError(absl::StrCat("bad lease resource key ", key));
  std::pair<std::string, std::string> parts =
      absl::StrSplit(rest, absl::MaxSplits('/', 1));
  LeaseResourceRecord r;
  r.lease_id = proto.lease_id;
  r.resource.id = parts.second;
  if (parts.first == "content") {
    r.resource.type = LeaseResource::Type::kContent;
  } else if (parts.first == "snapshot") {
    r.resource.type = LeaseResource::Type::kSnapshot;
  } else if (parts.first == "ingest") {
    r.resource.type = LeaseResource::Type::kIngest;
  } else {
    return absl::DataLossError(absl::StrCat("unknown lease resource ", key));
  }
  return r;
}

void SetTimes(Record& record, absl::Time created, absl::Time updated) {
  std::visit(
      [&](auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, LeaseRecord>) {
          r.created_at = created;
        } else if constexpr (!std::is_same_v<T, LeaseResourceRecord>) {
          r.created_at = created;
          r.updated_at = updated;
        }
      },
      record);
}

absl::Time CreatedAt(const Record& record) {
  return std::visit(
      [](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, LeaseResourceRecord>) {
          return absl::InfinitePast();
        } else {
          return r.created_at;
        }
      },
      record);
}

}  // namespace cradle::metadata_codec
