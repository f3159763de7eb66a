#include "cri/store/sandbox_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "lite/files.h"
#include "nlohmann/json.hpp"

namespace cradle {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json ToJson(const PodRecord& r) {
  return {{"id", r.id},
          {"name", r.name},
          {"namespace", r.pod_namespace},
          {"uid", r.uid},
          {"attempt", r.attempt},
          {"state", static_cast<int>(r.state)},
          {"created_at_ns", absl::ToUnixNanos(r.created_at)},
          {"config", absl::Base64Escape(r.config)},
          {"runtime_handler", r.runtime_handler},
          {"pod_dir", r.pod_dir},
          {"netns", r.netns_path},
          {"ipcns", r.ipcns_path},
          {"utsns", r.utsns_path},
          {"userns", r.userns_path},
          {"shm", r.shm_path},
          {"pidns", r.pidns_path},
          {"infra_pid", r.infra_pid},
          {"ips", r.ips},
          {"labels", r.labels},
          {"annotations", r.annotations}};
}

PodRecord FromJson(const json& j) {
  PodRecord r;
  r.id = j.value("id", "");
  r.name = j.value("name", "");
  r.pod_namespace = j.value("namespace", "");
  r.uid = j.value("uid", "");
  r.attempt = j.value("attempt", 0u);
  // Records written before the state machine carried only "ready".
  r.state = j.contains("state") ? static_cast<PodState>(j.value("state", 2))
            : j.value("ready", false) ? PodState::kReady
                                      : PodState::kNotReady;
  r.created_at = absl::FromUnixNanos(j.value("created_at_ns", int64_t{0}));
  absl::Base64Unescape(j.value("config", ""), &r.config);
  r.runtime_handler = j.value("runtime_handler", "");
  r.pod_dir = j.value("pod_dir", "");
  r.netns_path = j.value("netns", "");
  r.ipcns_path = j.value("ipcns", "");
  r.utsns_path = j.value("utsns", "");
  r.userns_path = j.value("userns", "");
  r.shm_path = j.value("shm", "");
  r.pidns_path = j.value("pidns", "");
  r.infra_pid = j.value("infra_pid", 0);
  r.ips = j.value("ips", std::vector<std::string>());
  r.labels = j.value("labels", std::map<std::string, std::string>());
  r.annotations = j.value("annotations", std::map<std::string, std::string>());
  return r;
}

}  // namespace

std::string PodRecord::ReservationKey() const {
  return absl::StrCat(name, "_", pod_namespace, "_", uid, "_", attempt);
}

absl::StatusOr<std::string> ResolveIdPrefix(const std::vector<std::string>& ids,
                                            const std::string& id_or_prefix,
                                            const std::string& kind) {
  if (id_or_prefix.empty())
    return absl::InvalidArgumentError(absl::StrCat(kind, " id is empty"));
  std::vector<std::string> matches;
  for (const std::string& id : ids) {
    if (id == id_or_prefix) return id;
    if (absl::StartsWith(id, id_or_prefix)) matches.push_back(id);
  }
  if (matches.size() == 1) return matches[0];
  if (matches.empty()) {
    return absl::NotFoundError(
        absl::StrCat(kind, " \"", id_or_prefix, "\" not found"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(kind, " id prefix \"", id_or_prefix, "\" is ambiguous (",
                   matches.size(), " match)"));
}

absl::StatusOr<std::unique_ptr<SandboxStore>> SandboxStore::Open(
    const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("create ", dir, ": ", ec.message()));
  std::unique_ptr<SandboxStore> store(new SandboxStore(dir));
  absl::MutexLock lock(&store->mu_);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".json") {
      fs::remove(entry.path(), ec);  // a temp file from an interrupted write
      continue;
    }
    std::ifstream in(entry.path());
    json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      LOG(ERROR) << "sandbox record " << entry.path()
                 << " is corrupt; ignoring it";
      continue;
    }
    PodRecord r = FromJson(j);
    store->reservations_[r.ReservationKey()] = r.id;
    store->by_id_[r.id] = std::move(r);
  }
  return store;
}

absl::Status SandboxStore::Persist(const PodRecord& r) {
  std::string path = absl::StrCat(dir_, "/", r.id, ".json");
  if (int err = lite::WriteFileAtomic(path, ToJson(r).dump()); err != 0) {
    return absl::InternalError(
        absl::StrCat("write sandbox record ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

absl::Status SandboxStore::Add(const PodRecord& record) {
  absl::MutexLock write(&write_mu_);
  {
    absl::MutexLock lock(&mu_);
    auto it = reservations_.find(record.ReservationKey());
    if (it != reservations_.end()) {
      return absl::AlreadyExistsError(
          absl::StrCat("pod sandbox name \"", record.ReservationKey(),
                       "\" is reserved by sandbox ", it->second));
    }
  }
  if (absl::Status s = Persist(record); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  reservations_[record.ReservationKey()] = record.id;
  by_id_[record.id] = record;
  return absl::OkStatus();
}

absl::Status SandboxStore::Update(const PodRecord& record) {
  return Mutate(record.id, [&](PodRecord& r) { r = record; });
}

absl::Status SandboxStore::Mutate(const std::string& id,
                                  absl::FunctionRef<void(PodRecord&)> change,
                                  PodRecord* out) {
  absl::MutexLock write(&write_mu_);
  PodRecord next;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) {
      return absl::NotFoundError(
          absl::StrCat("pod sandbox ", id, " not found"));
    }
    next = it->second;
  }
  PodState from = next.state;
  change(next);
  if (!PodTransitionAllowed(from, next.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("pod sandbox ", id, " cannot go from ", PodStateName(from),
                     " to ", PodStateName(next.state)));
  }
  if (absl::Status s = Persist(next); !s.ok()) return s;
  if (out != nullptr) *out = next;
  absl::MutexLock lock(&mu_);
  by_id_[id] = std::move(next);
  return absl::OkStatus();
}

absl::Status SandboxStore::Remove(const std::string& id) {
  absl::MutexLock write(&write_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (by_id_.count(id) == 0) return absl::OkStatus();
  }
  std::error_code ec;
  fs::remove(absl::StrCat(dir_, "/", id, ".json"), ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("remove sandbox record ", id, ": ", ec.message()));
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(id);
  reservations_.erase(it->second.ReservationKey());
  by_id_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::string> SandboxStore::Resolve(
    const std::string& id_or_prefix) {
  std::vector<std::string> ids;
  for (const auto& [id, r] : by_id_) ids.push_back(id);
  return ResolveIdPrefix(ids, id_or_prefix, "pod sandbox");
}

absl::StatusOr<PodRecord> SandboxStore::Get(const std::string& id_or_prefix) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::string> id = Resolve(id_or_prefix);
  if (!id.ok()) return id.status();
  return by_id_.at(*id);
}

std::vector<PodRecord> SandboxStore::List() {
  absl::MutexLock lock(&mu_);
  std::vector<PodRecord> out;
  for (const auto& [id, r] : by_id_) out.push_back(r);
  return out;
}

}  // namespace cradle
