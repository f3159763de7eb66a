#include "oci/image.h"

#include <sys/utsname.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace cradle::oci {
namespace {

using nlohmann::json;

absl::Status Bad(absl::string_view what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
}

// schemaVersion, or 0 when it is missing or not an integer: json::value()
// would throw on a string, and a registry's document is untrusted.
int64_t SchemaVersion(const json& doc) {
  auto it = doc.find("schemaVersion");
  if (it == doc.end() || !it->is_number_integer()) return 0;
  return it->get<int64_t>();
}

absl::StatusOr<json> ParseObject(absl::string_view text,
                                 absl::string_view what) {
  json doc = json::parse(text.begin(), text.end(), nullptr,
                         /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad(what, "not valid JSON");
  if (!doc.is_object()) return Bad(what, "not a JSON object");
  return doc;
}

// Optional string field; present but not a string is an error.
absl::Status GetString(const json& j, const char* key, std::string* out,
                       absl::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string())
    return Bad(what, absl::StrCat("\"", key, "\" is not a string"));
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status GetStrings(const json& j, const char* key,
                        std::vector<std::string>* out, absl::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array())
    return Bad(what, absl::StrCat("\"", key, "\" is not an array"));
  for (const json& item : *it) {
    if (!item.is_string())
      return Bad(what, absl::StrCat("\"", key, "\" holds a non-string"));
    out->push_back(item.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status GetStringMap(const json& j, const char* key,
                          std::map<std::string, std::string>* out,
                          absl::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object())
    return Bad(what, absl::StrCat("\"", key, "\" is not an object"));
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string())
      return Bad(what, absl::StrCat("\"", key, ".", k, "\" is not a string"));
    (*out)[k] = v.get<std::string>();
  }
  return absl::OkStatus();
}

// The keys of an object-valued field ("ExposedPorts": {"80/tcp": {}}).
absl::Status GetKeys(const json& j, const char* key,
                     std::vector<std::string>* out, absl::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object())
    return Bad(what, absl::StrCat("\"", key, "\" is not an object"));
  for (const auto& [k, v] : it->items()) out->push_back(k);
  return absl::OkStatus();
}

absl::StatusOr<Descriptor> ParseDescriptor(const json& j,
                                           const std::string& what) {
  if (!j.is_object()) return Bad(what, "not an object");
  Descriptor d;
  if (absl::Status s = GetString(j, "mediaType", &d.media_type, what); !s.ok())
    return s;
  std::string digest;
  if (absl::Status s = GetString(j, "digest", &digest, what); !s.ok()) return s;
  absl::StatusOr<Digest> parsed = Digest::Parse(digest);
  if (!parsed.ok()) return Bad(what, parsed.status().message());
  d.digest = *parsed;
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() ||
      size->get<int64_t>() < 0) {
    return Bad(what, "\"size\" must be a non-negative integer");
  }
  d.size = size->get<int64_t>();
  if (absl::Status s = GetStringMap(j, "annotations", &d.annotations, what);
      !s.ok())
    return s;
  if (absl::Status s = GetStrings(j, "urls", &d.urls, what); !s.ok()) return s;
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
    Platform platform;
    for (auto [key, field] : {std::pair{"os", &platform.os},
                              std::pair{"architecture", &platform.architecture},
                              std::pair{"variant", &platform.variant},
                              std::pair{"os.version", &platform.os_version}}) {
      if (absl::Status s = GetString(*p, key, field, what); !s.ok()) return s;
    }
    d.platform = platform;
  }
  return d;
}

std::string Variantless(const Platform& p) {
  return absl::StrCat(p.os, "/", p.architecture);
}

std::string Describe(const Platform& p) {
  return p.variant.empty() ? Variantless(p)
                           : absl::StrCat(Variantless(p), "/", p.variant);
}

// Variant rank for ordering ("v3" -> 3, "" -> 0); arm64's "v8" is its default.
int VariantRank(absl::string_view arch, absl::string_view variant) {
  if (variant.empty()) return 0;
  if (arch == "arm64" && variant == "v8") return 0;
  int rank = 0;
  if (variant.size() >= 2 && variant[0] == 'v' &&
      absl::SimpleAtoi(variant.substr(1), &rank)) {
    return rank;
  }
  return -1;
}

}  // namespace

bool IsIndexType(absl::string_view t) {
  return t == media_type::kIndex || t == media_type::kDockerManifestList;
}
bool IsManifestType(absl::string_view t) {
  return t == media_type::kManifest || t == media_type::kDockerManifest;
}
bool IsConfigType(absl::string_view t) {
  return t == media_type::kConfig || t == media_type::kDockerConfig;
}
bool IsLayerType(absl::string_view t) {
  return t == media_type::kLayer || t == media_type::kLayerGzip ||
         t == media_type::kLayerZstd || t == media_type::kDockerLayerGzip ||
         t == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" ||
         absl::StartsWith(
             t, "application/vnd.oci.image.layer.nondistributable.v1.tar");
}

absl::StatusOr<std::string> DocumentKind(absl::string_view announced,
                                         absl::string_view text) {
  absl::StatusOr<json> doc = ParseObject(text, "manifest");
  if (!doc.ok()) return doc.status();
  std::string type(announced);
  if (auto it = doc->find("mediaType"); it != doc->end() && it->is_string()) {
    type = it->get<std::string>();
  }
  if (IsIndexType(type)) return std::string("index");
  if (IsManifestType(type)) return std::string("manifest");
  // No usable media type: OCI allows its omission; judge by shape.
  if (doc->contains("manifests")) return std::string("index");
  if (doc->contains("layers") && doc->contains("config"))
    return std::string("manifest");
  if (SchemaVersion(*doc) == 1) {
    return absl::InvalidArgumentError(
        "manifest: Docker schema 1 images are not supported; push the image "
        "again with a "
        "current client");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("manifest: unsupported media type \"", type, "\""));
}

absl::StatusOr<Index> ParseIndex(absl::string_view text) {
  absl::StatusOr<json> doc = ParseObject(text, "index");
  if (!doc.ok()) return doc.status();
  Index index;
  if (absl::Status s = GetString(*doc, "mediaType", &index.media_type, "index");
      !s.ok())
    return s;
  auto manifests = doc->find("manifests");
  if (manifests == doc->end() || !manifests->is_array()) {
    return Bad("index", "\"manifests\" must be an array");
  }
  for (size_t i = 0; i < manifests->size(); ++i) {
    absl::StatusOr<Descriptor> d = ParseDescriptor(
        (*manifests)[i], absl::StrCat("index: manifests[", i, "]"));
    if (!d.ok()) return d.status();
    index.manifests.push_back(*std::move(d));
  }
  return index;
}

absl::StatusOr<Manifest> ParseManifest(absl::string_view text) {
  absl::StatusOr<json> doc = ParseObject(text, "manifest");
  if (!doc.ok()) return doc.status();
  Manifest m;
  if (absl::Status s = GetString(*doc, "mediaType", &m.media_type, "manifest");
      !s.ok())
    return s;
  if (SchemaVersion(*doc) != 2)
    return Bad("manifest", "\"schemaVersion\" must be 2");
  auto config = doc->find("config");
  if (config == doc->end()) return Bad("manifest", "no \"config\"");
  absl::StatusOr<Descriptor> c = ParseDescriptor(*config, "manifest: config");
  if (!c.ok()) return c.status();
  m.config = *std::move(c);
  if (!m.config.media_type.empty() && !IsConfigType(m.config.media_type)) {
    return Bad(
        "manifest",
        absl::StrCat("config media type \"", m.config.media_type,
                     "\" is not an image config (an artifact, not an image?)"));
  }
  auto layers = doc->find("layers");
  if (layers == doc->end() || !layers->is_array()) {
    return Bad("manifest", "\"layers\" must be an array");
  }
  for (size_t i = 0; i < layers->size(); ++i) {
    std::string what = absl::StrCat("manifest: layers[", i, "]");
    absl::StatusOr<Descriptor> d = ParseDescriptor((*layers)[i], what);
    if (!d.ok()) return d.status();
    if (!IsLayerType(d->media_type)) {
      return Bad(what, absl::StrCat("unsupported layer media type \"",
                                    d->media_type, "\""));
    }
    m.layers.push_back(*std::move(d));
  }
  if (absl::Status s =
          GetStringMap(*doc, "annotations", &m.annotations, "manifest");
      !s.ok()) {
    return s;
  }
  return m;
}

absl::StatusOr<ImageConfig> ParseImageConfig(absl::string_view text) {
  constexpr char kWhat[] = "image config";
  absl::StatusOr<json> doc = ParseObject(text, kWhat);
  if (!doc.ok()) return doc.status();
  ImageConfig c;
  for (auto [key, field] :
       {std::pair{"os", &c.os}, std::pair{"architecture", &c.architecture},
        std::pair{"variant", &c.variant}, std::pair{"created", &c.created}}) {
    if (absl::Status s = GetString(*doc, key, field, kWhat); !s.ok()) return s;
  }
  if (auto conf = doc->find("config");
      conf != doc->end() && conf->is_object()) {
    const json& j = *conf;
    absl::Status s = GetString(j, "User", &c.user, kWhat);
    if (s.ok()) s = GetStrings(j, "Env", &c.env, kWhat);
    if (s.ok()) s = GetStrings(j, "Entrypoint", &c.entrypoint, kWhat);
    if (s.ok()) s = GetStrings(j, "Cmd", &c.cmd, kWhat);
    if (s.ok()) s = GetString(j, "WorkingDir", &c.working_dir, kWhat);
    if (s.ok()) s = GetKeys(j, "ExposedPorts", &c.exposed_ports, kWhat);
    if (s.ok()) s = GetKeys(j, "Volumes", &c.volumes, kWhat);
    if (s.ok()) s = GetString(j, "StopSignal", &c.stop_signal, kWhat);
    if (s.ok()) s = GetStringMap(j, "Labels", &c.labels, kWhat);
    if (!s.ok()) return s;
  }
  auto rootfs = doc->find("rootfs");
  if (rootfs == doc->end() || !rootfs->is_object())
    return Bad(kWhat, "no \"rootfs\"");
  std::vector<std::string> diff_ids;
  if (absl::Status s = GetStrings(*rootfs, "diff_ids", &diff_ids, kWhat);
      !s.ok())
    return s;
  for (const std::string& id : diff_ids) {
    absl::StatusOr<Digest> d = Digest::Parse(id);
    if (!d.ok())
      return Bad(kWhat,
                 absl::StrCat("rootfs.diff_ids: ", d.status().message()));
    c.diff_ids.push_back(*d);
  }
  return c;
}

Platform HostPlatform() {
  Platform p;
  p.os = "linux";
  utsname u;
  std::string machine = uname(&u) == 0 ? u.machine : "x86_64";
  if (machine == "x86_64") {
    p.architecture = "amd64";
  } else if (machine == "aarch64") {
    p.architecture = "arm64";
  } else if (absl::StartsWith(machine, "armv7")) {
    p.architecture = "arm";
    p.variant = "v7";
  } else {
    p.architecture = machine;
  }
  return p;
}

absl::StatusOr<Descriptor> ChoosePlatform(const Index& index,
                                          const Platform& want) {
  const Descriptor* best = nullptr;
  int best_score = -1;
  int want_rank = VariantRank(want.architecture, want.variant);
  std::vector<std::string> offered;
  for (const Descriptor& d : index.manifests) {
    if (!d.platform) continue;
    offered.push_back(Describe(*d.platform));
    if (d.platform->os != want.os ||
        d.platform->architecture != want.architecture)
      continue;
    int rank = VariantRank(d.platform->architecture, d.platform->variant);
    // Exact variant first, then none, then the highest variant below ours;
    // a higher variant may need CPU features this machine lacks.
    int score;
    if (rank == want_rank) {
      score = 300;
    } else if (rank == 0) {
      score = 200;
    } else if (rank > 0 && rank < want_rank) {
      score = 100 + rank;
    } else {
      continue;
    }
    if (score > best_score) {
      best = &d;
      best_score = score;
    }
  }
  if (best != nullptr) return *best;
  if (index.manifests.size() == 1 && !index.manifests[0].platform)
    return index.manifests[0];
  return absl::NotFoundError(absl::StrCat(
      "no image for platform ", Describe(want), " in the index (it offers: ",
      offered.empty() ? "nothing" : absl::StrJoin(offered, ", "), ")"));
}

}  // namespace cradle::oci
