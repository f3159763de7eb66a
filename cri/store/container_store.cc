#include "cri/store/container_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cri/store/sandbox_store.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"

namespace cradle {
namespace {

using nlohmann::json;

int64_t Nanos(absl::Time t) { return absl::ToUnixNanos(t); }

// The CRI fields live in the record's opaque `spec`, as JSON.
std::string ToSpec(const CriContainer& c) {
  json j = {{"pod_id", c.pod_id},
            {"name", c.name},
            {"attempt", c.attempt},
            {"created_at_ns", Nanos(c.created_at)},
            {"config", absl::Base64Escape(c.config)},
            {"image_id", c.image_id},
            {"image_name", c.image_name},
            {"image_ref", c.image_ref},
            {"log_path", c.log_path},
            {"bundle", c.bundle},
            {"rootfs", c.rootfs},
            {"stop_signal", c.stop_signal},
            {"annotations", c.annotations},
            {"state", static_cast<int>(c.state)},
            {"pid", c.pid},
            {"started_at_ns", Nanos(c.started_at)},
            {"finished_at_ns", Nanos(c.finished_at)},
            {"exit_code", c.exit_code},
            {"reason", c.reason},
            {"message", c.message}};
  if (!c.image_volumes.empty()) {
    json volumes = json::array();
    for (const CriContainer::ImageVolume& v : c.image_volumes) {
      volumes.push_back({{"image_id", v.image_id},
                         {"snapshot_key", v.snapshot_key},
                         {"container_path", v.container_path}});
    }
    j["image_volumes"] = volumes;
  }
  // Only when known: a record without it reads back as "not recorded".
  if (c.user) {
    j["user"] = {{"uid", c.user->uid},
                 {"gid", c.user->gid},
                 {"supplemental_groups", c.user->supplemental_groups}};
  }
  return j.dump();
}

absl::StatusOr<CriContainer> FromRecord(const ContainerRecord& r) {
  json j = json::parse(r.spec, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    return absl::DataLossError("container record " + r.id + " is corrupt");
  CriContainer c;
  c.id = r.id;
  c.snapshotter = r.snapshotter;
  c.snapshot_key = r.snapshot_key;
  for (const auto& [key, value] : r.labels) {
    // The garbage collector's references are the store's, not the CRI's.
    if (!absl::StartsWith(key, kGcRefSnapshotPrefix)) c.labels[key] = value;
  }
  c.pod_id = j.value("pod_id", "");
  c.name = j.value("name", "");
  c.attempt = j.value("attempt", 0u);
  c.created_at = absl::FromUnixNanos(j.value("created_at_ns", int64_t{0}));
  absl::Base64Unescape(j.value("config", ""), &c.config);
  c.image_id = j.value("image_id", "");
  c.image_name = j.value("image_name", "");
  c.image_ref = j.value("image_ref", "");
  c.log_path = j.value("log_path", "");
  c.bundle = j.value("bundle", "");
  c.rootfs = j.value("rootfs", "");
  c.stop_signal = j.value("stop_signal", "");
  c.annotations = j.value("annotations", std::map<std::string, std::string>());
  c.state = static_cast<CriContainer::State>(j.value("state", 3));
  c.pid = j.value("pid", 0);
  c.started_at = absl::FromUnixNanos(j.value("started_at_ns", int64_t{0}));
  c.finished_at = absl::FromUnixNanos(j.value("finished_at_ns", int64_t{0}));
  c.exit_code = j.value("exit_code", 0);
  c.reason = j.value("reason", "");
  c.message = j.value("message", "");
  if (auto user = j.find("user"); user != j.end() && user->is_object()) {
    // Checked, not value(): a mistyped field must not throw out of Open.
    auto id = [&](const char* key) -> std::optional<uint32_t> {
      auto it = user->find(key);
      if (it == user->end() || !it->is_number_unsigned()) return std::nullopt;
      return it->get<uint32_t>();
    };
    std::optional<uint32_t> uid = id("uid"), gid = id("gid");
    if (uid && gid) {
      CriContainer::UserIds ids;
      ids.uid = *uid;
      ids.gid = *gid;
      auto groups = user->find("supplemental_groups");
      if (groups != user->end() && groups->is_array()) {
        for (const json& g : *groups) {
          if (g.is_number_unsigned())
            ids.supplemental_groups.push_back(g.get<uint32_t>());
        }
      }
      c.user = std::move(ids);
    }
  }
  if (auto volumes = j.find("image_volumes");
      volumes != j.end() && volumes->is_array()) {
    // Checked, not value(): a mistyped field must not throw out of Open.
    auto text = [](const json& v, const char* key) {
      auto it = v.find(key);
      return it != v.end() && it->is_string() ? it->get<std::string>()
                                              : std::string();
    };
    for (const json& v : *volumes) {
      if (!v.is_object()) continue;
      c.image_volumes.push_back({text(v, "image_id"), text(v, "snapshot_key"),
                                 text(v, "container_path")});
    }
  }
  return c;
}

}  // namespace

std::string CriContainer::ReservationKey() const {
  return absl::StrCat(pod_id, "_", name, "_", attempt);
}

absl::StatusOr<std::unique_ptr<ContainerStore>> ContainerStore::Open(
    MetadataStore* metadata, std::string ns) {
  std::unique_ptr<ContainerStore> store(
      new ContainerStore(metadata, std::move(ns)));
  absl::StatusOr<std::vector<ContainerRecord>> records =
      metadata->ListContainers(store->ns_);
  if (!records.ok()) return records.status();
  absl::MutexLock lock(&store->mu_);
  for (const ContainerRecord& r : *records) {
    // Containers made through containerd's API share the namespace.
    if (r.extensions.count(kContainerdRuntimeExtension) > 0) continue;
    absl::StatusOr<CriContainer> c = FromRecord(r);
    if (!c.ok()) {
      LOG(ERROR) << c.status() << "; ignoring it";
      continue;
    }
    store->reservations_[c->ReservationKey()] = c->id;
    store->by_id_[c->id] = *std::move(c);
  }
  return store;
}

absl::Status ContainerStore::Persist(const CriContainer& c,
                                     MetadataBatch::Action action) {
  ContainerRecord r;
  r.id = c.id;
  r.sandbox_id = c.pod_id;
  r.image = c.image_name;
  r.snapshotter = c.snapshotter;
  r.snapshot_key = c.snapshot_key;
  r.labels = c.labels;
  for (size_t i = 0; i < c.image_volumes.size(); ++i) {
    r.labels[absl::StrCat(kGcRefSnapshotPrefix, c.snapshotter, ".volume.", i)] =
        c.image_volumes[i].snapshot_key;
  }
  r.spec = ToSpec(c);
  r.created_at = c.created_at;
  r.updated_at = absl::Now();
  MetadataBatch batch;
  batch.Add(action, ns_, r);
  return metadata_->Apply(batch);
}

absl::Status ContainerStore::Add(const CriContainer& c) {
  absl::MutexLock write(&write_mu_);
  {
    absl::MutexLock lock(&mu_);
    auto it = reservations_.find(c.ReservationKey());
    if (it != reservations_.end()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "container name \"", c.name, "\" (attempt ", c.attempt,
          ") is already used in pod ", c.pod_id, " by container ", it->second));
    }
  }
  if (absl::Status s = Persist(c, MetadataBatch::Action::kCreate); !s.ok())
    return s;
  absl::MutexLock lock(&mu_);
  reservations_[c.ReservationKey()] = c.id;
  by_id_[c.id] = c;
  return absl::OkStatus();
}

absl::Status ContainerStore::Update(const CriContainer& c) {
  return Mutate(c.id, [&](CriContainer& stored) { stored = c; });
}

absl::Status ContainerStore::Mutate(
    const std::string& id, absl::FunctionRef<void(CriContainer&)> change,
    CriContainer* out) {
  absl::MutexLock write(&write_mu_);
  CriContainer next;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end())
      return absl::NotFoundError(absl::StrCat("container ", id, " not found"));
    next = it->second;
  }
  ContainerState from = next.state;
  change(next);
  if (!ContainerTransitionAllowed(from, next.state)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "container ", id, " cannot go from ", ContainerStateName(from), " to ",
        ContainerStateName(next.state)));
  }
  if (absl::Status s = Persist(next, MetadataBatch::Action::kPut); !s.ok())
    return s;
  if (out != nullptr) *out = next;
  absl::MutexLock lock(&mu_);
  by_id_[id] = std::move(next);
  return absl::OkStatus();
}

absl::Status ContainerStore::Remove(const std::string& id) {
  absl::MutexLock write(&write_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (by_id_.count(id) == 0) return absl::OkStatus();
  }
  ContainerRecord r;
  r.id = id;
  MetadataBatch batch;
  batch.Add(MetadataBatch::Action::kDeleteIfPresent, ns_, r);
  if (absl::Status s = metadata_->Apply(batch); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(id);
  reservations_.erase(it->second.ReservationKey());
  by_id_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<CriContainer> ContainerStore::Get(
    const std::string& id_or_prefix) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> ids;
  for (const auto& [id, c] : by_id_) ids.push_back(id);
  absl::StatusOr<std::string> id =
      ResolveIdPrefix(ids, id_or_prefix, "container");
  if (!id.ok()) return id.status();
  return by_id_[*id];
}

std::vector<CriContainer> ContainerStore::List() {
  absl::MutexLock lock(&mu_);
  std::vector<CriContainer> all;
  for (const auto& [id, c] : by_id_) all.push_back(c);
  return all;
}

std::vector<CriContainer> ContainerStore::ListInPod(const std::string& pod_id) {
  absl::MutexLock lock(&mu_);
  std::vector<CriContainer> in_pod;
  for (const auto& [id, c] : by_id_) {
    if (c.pod_id == pod_id) in_pod.push_back(c);
  }
  return in_pod;
}

}  // namespace cradle
