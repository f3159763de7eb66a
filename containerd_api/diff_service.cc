#include "containerd_api/diff_service.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "containerd_api/api_context.h"
#include "containerd_api/cri_snapshots.h"
#include "containerd_api/mount_convert.h"
#include "containerd_api/proto/services/diff/v1/diff.grpc.pb.h"
#include "containerd_api/snapshot_keys.h"
#include "content/content.h"
#include "metadata/content_store.h"
#include "mount/mount.h"
#include "oci/image.h"
#include "snapshots/apply/apply.h"
#include "snapshots/snapshotter.h"

namespace cradle::containerd_api {
namespace {

namespace v1 = ::containerd::services::diff::v1;

// What Apply answers: the uncompressed tar it applied, named by its diff id.
constexpr char kAppliedMediaType[] = "application/vnd.oci.image.layer.v1.tar";
// Docker's uncompressed layer type, which cradle's puller never meets.
constexpr char kDockerLayerTar[] =
    "application/vnd.docker.image.rootfs.diff.tar";

template <typename Fn>
grpc::Status Handle(Fn&& fn) {
  return ToGrpc(NoThrow("diff", fn));
}

// The value of option "name=..." in `options`, or "".
std::string OptionValue(const std::vector<std::string>& options,
                        absl::string_view name) {
  std::string prefix = absl::StrCat(name, "=");
  for (const std::string& o : options) {
    if (absl::StartsWith(o, prefix)) return o.substr(prefix.size());
  }
  return "";
}

// A file descriptor positioned at the blob's start. The store's own fd when
// it has one (a fresh Open, so its position is ours); otherwise the blob is
// copied into an anonymous file.
class LayerFile {
 public:
  static absl::StatusOr<LayerFile> Open(ContentStore& content,
                                        const Digest& digest) {
    absl::StatusOr<std::unique_ptr<BlobReader>> reader = content.Open(digest);
    if (!reader.ok()) return reader.status();
    LayerFile file;
    if ((*reader)->fd() >= 0) {
      if (lseek((*reader)->fd(), 0, SEEK_SET) != 0)
        return absl::InternalError(
            absl::StrCat("seek ", digest.ToString(), ": ", strerror(errno)));
      file.reader_ = *std::move(reader);
      file.fd_ = file.reader_->fd();
      return file;
    }
    int fd = memfd_create("cradle-layer", MFD_CLOEXEC);
    if (fd < 0)
      return absl::InternalError(absl::StrCat("memfd: ", strerror(errno)));
    file.owned_fd_ = fd;
    file.fd_ = fd;
    for (int64_t off = 0; off < (*reader)->size();) {
      absl::StatusOr<std::string> chunk = (*reader)->ReadAt(off, 1 << 20);
      if (!chunk.ok()) return chunk.status();
      if (chunk->empty()) break;
      if (write(fd, chunk->data(), chunk->size()) !=
          static_cast<ssize_t>(chunk->size())) {
        return absl::InternalError(
            absl::StrCat("copy layer: ", strerror(errno)));
      }
      off += chunk->size();
    }
    lseek(fd, 0, SEEK_SET);
    return file;
  }

  LayerFile() = default;
  LayerFile(LayerFile&& other) noexcept
      : reader_(std::move(other.reader_)),
        fd_(other.fd_),
        owned_fd_(std::exchange(other.owned_fd_, -1)) {}
  LayerFile& operator=(LayerFile&&) = delete;
  ~LayerFile() {
    if (owned_fd_ >= 0) close(owned_fd_);
  }
  int fd() const { return fd_; }

 private:
  std::unique_ptr<BlobReader> reader_;
  int fd_ = -1;
  int owned_fd_ = -1;
};

class DiffService final : public v1::Diff::Service {
 public:
  explicit DiffService(const ContainerdApiDeps& deps) : deps_(deps) {}

  grpc::Status Apply(grpc::ServerContext* ctx, const v1::ApplyRequest* req,
                     v1::ApplyResponse* resp) override {
    return Handle([&]() -> absl::Status {
      absl::StatusOr<std::string> ns = RequestNamespace(ctx);
      if (!ns.ok()) return ns.status();
      const auto& desc = req->diff();
      if (!oci::IsLayerType(desc.media_type()) &&
          desc.media_type() != kDockerLayerTar) {
        return absl::UnimplementedError(absl::StrCat(
            "diff: unsupported layer media type \"", desc.media_type(),
            "\" (gzip, zstd and uncompressed tar layers are applied)"));
      }
      absl::StatusOr<Digest> digest = Digest::Parse(desc.digest());
      if (!digest.ok()) return digest.status();
      if (req->mounts().empty())
        return absl::InvalidArgumentError("diff: apply needs mounts");
      std::unique_ptr<ContentStore> content = NamespacedContentStore::Create(
          deps_.content, deps_.metadata, *ns, RequestLease(ctx));
      absl::StatusOr<LayerFile> layer = LayerFile::Open(*content, *digest);
      if (!layer.ok()) {
        return absl::Status(layer.status().code(),
                            absl::StrCat("diff: layer ", desc.digest(), ": ",
                                         layer.status().message()));
      }
      ApplyLimits limits =
          deps_.unpack_limits != nullptr ? *deps_.unpack_limits : ApplyLimits();
      std::vector<Mount> mounts = FromProto(req->mounts());
      absl::StatusOr<std::optional<DirectApplier::Target>> direct =
          CheckedTarget(*ns, mounts);
      if (!direct.ok()) return direct.status();
      absl::StatusOr<ApplyResult> applied =
          direct->has_value() ? ApplyLayer(layer->fd(), **direct, limits)
                              : ApplyMounted(layer->fd(), mounts, limits);
      if (!applied.ok()) {
        return absl::Status(applied.status().code(),
                            absl::StrCat("apply layer ", desc.digest(), ": ",
                                         applied.status().message()));
      }
      auto* out = resp->mutable_applied();
      out->set_media_type(kAppliedMediaType);
      out->set_digest(applied->diff_id.ToString());
      out->set_size(applied->uncompressed);
      return absl::OkStatus();
    });
  }

  grpc::Status Diff(grpc::ServerContext*, const v1::DiffRequest*,
                    v1::DiffResponse*) override {
    return ToGrpc(absl::UnimplementedError(
        "diff: cradled cannot compute a layer from two trees; only Apply is "
        "served"));
  }

 private:
  // Checks every dir the mounts let the layer write to (an overlay's
  // upperdir and workdir, a writable bind's source): one under cradled's
  // snapshot root must be inside an active snapshot of namespace `ns`
  // (PermissionDenied otherwise, as for a dir holding the root itself),
  // and in the CRI's namespace not a CRI container's (FailedPrecondition).
  // Returns the apply target when the mounts are exactly one such snapshot
  // (its writable dir as the upperdir of an overlay, or as the source of a
  // bind): the layer is then written into that dir with the snapshotter's
  // whiteouts, no mount needed. nullopt when they are something else.
  absl::StatusOr<std::optional<DirectApplier::Target>> CheckedTarget(
      const std::string& ns, const std::vector<Mount>& mounts) {
    if (deps_.snapshot_root.empty()) return std::nullopt;
    const std::string root = Canonical(deps_.snapshot_root);
    bool in_root = false;
    for (const Mount& m : mounts) {
      for (const std::string& dir : WritableDirs(m)) {
        if (Within(root, dir)) {
          return absl::PermissionDeniedError(absl::StrCat(
              "diff: mount dir ", dir, " holds cradled's snapshot root ", root,
              "; apply into a snapshot's mounts instead"));
        }
        in_root |= Within(dir, root);
      }
    }
    if (!in_root) return std::nullopt;
    // The snapshots' dirs are named by id; find the active snapshot each
    // writable dir is in.
    struct Active {
      std::string key;
      std::string dir;  // the snapshot's own dir, holding fs/ and work/
      DirectApplier::Target target;
    };
    std::vector<Active> active;
    if (deps_.applier != nullptr) {
      std::vector<std::string> keys;
      if (absl::Status s = deps_.snapshotter->Walk([&](const SnapshotInfo& i) {
            if (i.kind == SnapshotKind::kActive) keys.push_back(i.name);
            return absl::OkStatus();
          });
          !s.ok()) {
        return s;
      }
      for (const std::string& key : keys) {
        absl::StatusOr<DirectApplier::Target> target =
            deps_.applier->ApplyTarget(key);
        if (!target.ok()) continue;  // removed meanwhile
        std::string dir =
            Canonical(std::filesystem::path(target->dir).parent_path());
        active.push_back({key, dir, *std::move(target)});
      }
    }
    for (const Mount& m : mounts) {
      for (const std::string& dir : WritableDirs(m)) {
        if (!Within(dir, root)) continue;
        const Active* owner = nullptr;
        for (const Active& a : active) {
          if (Within(dir, a.dir)) owner = &a;
        }
        if (owner == nullptr) {
          return absl::PermissionDeniedError(absl::StrCat(
              "diff: mount dir ", dir,
              " is in cradled's snapshot root but in no active snapshot; "
              "apply into a prepared snapshot's mounts"));
        }
        if (!BackendSnapshotKeyInNamespace(ns, owner->key)) {
          return absl::PermissionDeniedError(absl::StrCat(
              "diff: the mounts are a snapshot of another namespace than ",
              ns));
        }
        if (absl::Status s = RefuseCriRoot(deps_, ns, owner->key); !s.ok())
          return s;
      }
    }
    if (mounts.size() != 1) return std::nullopt;
    const Mount& m = mounts[0];
    std::string dir;
    if (m.type == "overlay") {
      dir = OptionValue(m.options, "upperdir");
    } else if (m.type == "bind" || m.type == "rbind") {
      if (ReadOnly(m)) return std::nullopt;  // a view: nothing to write
      dir = m.source;
    }
    if (dir.empty()) return std::nullopt;
    dir = Canonical(Resolve(m, dir));
    for (const Active& a : active) {
      if (Canonical(a.target.dir) == dir)
        return std::optional<DirectApplier::Target>(a.target);
    }
    return std::nullopt;
  }

  static bool ReadOnly(const Mount& m) {
    for (const std::string& o : m.options) {
      if (o == "ro") return true;
    }
    return false;
  }

  // `path` of mount `m` as MountAll reads it: relative to the mount's
  // cradle.chdir when it has one.
  static std::string Resolve(const Mount& m, const std::string& path) {
    std::string chdir = OptionValue(m.options, "cradle.chdir");
    if (path.empty() || path[0] == '/' || chdir.empty()) return path;
    return absl::StrCat(chdir, "/", path);
  }

  // The dirs mount `m` lets a layer write to, resolved (symlinks too).
  static std::vector<std::string> WritableDirs(const Mount& m) {
    std::vector<std::string> out;
    for (const char* option : {"upperdir", "workdir"}) {
      std::string dir = OptionValue(m.options, option);
      if (!dir.empty()) out.push_back(Canonical(Resolve(m, dir)));
    }
    if ((m.type == "bind" || m.type == "rbind") && !ReadOnly(m) &&
        !m.source.empty()) {
      out.push_back(Canonical(Resolve(m, m.source)));
    }
    return out;
  }

  // Absolute, with symlinks of its existing part resolved and no trailing
  // '/': a path a check and the mount see alike.
  static std::string Canonical(const std::filesystem::path& path) {
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(path, ec);
    if (ec) abs = path;
    std::filesystem::path out = std::filesystem::weakly_canonical(abs, ec);
    if (ec) out = abs;
    std::string s = out.lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  }

  // Whether `path` is `dir` or under it (both Canonical).
  static bool Within(absl::string_view path, absl::string_view dir) {
    if (dir == "/") return true;
    return path == dir || (absl::StartsWith(path, dir) &&
                           path.size() > dir.size() && path[dir.size()] == '/');
  }

  // Mounts `mounts` on a private temporary dir and applies through it;
  // deletions are real there (an overlay turns them into its whiteouts).
  absl::StatusOr<ApplyResult> ApplyMounted(int fd,
                                           const std::vector<Mount>& mounts,
                                           const ApplyLimits& limits) {
    std::string base = deps_.state.empty() ? "/tmp" : deps_.state;
    std::error_code ec;
    std::filesystem::create_directories(base, ec);
    std::string tmpl = absl::StrCat(base, "/diff-apply-XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError(
          absl::StrCat("diff: temp dir under ", base, ": ", strerror(errno)));
    }
    std::string dir = tmpl;
    absl::Cleanup remove_dir = [&] {
      std::error_code ignored;
      std::filesystem::remove(dir, ignored);
    };
    if (absl::Status s = MountAll(mounts, dir); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("diff: mount: ", s.message()));
    }
    absl::StatusOr<ApplyResult> applied =
        ApplyLayer(fd, {dir, {}, WhiteoutStyle::kDelete}, limits);
    if (absl::Status s = UnmountAll(dir); !s.ok() && applied.ok()) return s;
    return applied;
  }

  const ContainerdApiDeps deps_;  // a copy: its pointers outlive us
};

}  // namespace

std::unique_ptr<grpc::Service> NewDiffService(const ContainerdApiDeps& deps) {
  return std::make_unique<DiffService>(deps);
}

}  // namespace cradle::containerd_api
