#include "containerd_api/introspection_service.h"

#include <sys/utsname.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "containerd_api/api_context.h"
#include "containerd_api/proto/services/introspection/v1/introspection.grpc.pb.h"

namespace cradle::containerd_api {
namespace {

namespace pb = ::containerd::services::introspection::v1;

// Where the server's UUID is kept, under the config root, so it survives
// restarts as containerd's does.
constexpr char kUuidFile[] = "containerd-server-uuid";

std::string GoArch() {
  utsname u{};
  if (uname(&u) != 0) return "amd64";
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "i686" || m == "i386") return "386";
  if (m == "armv7l") return "arm";
  return m;
}

std::string NewUuid() {
  absl::BitGen gen;
  uint64_t hi = absl::Uniform<uint64_t>(gen), lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & ~uint64_t{0xf000}) | 0x4000;                    // version 4
  lo = (lo & ~(uint64_t{0xc} << 60)) | (uint64_t{8} << 60);  // RFC 4122
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32,
                         (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
                         lo & 0xffffffffffffULL);
}

class IntrospectionService final : public pb::Introspection::Service {
 public:
  explicit IntrospectionService(const ContainerdApiDeps& deps)
      : deps_(deps), plugins_(BuildPlugins(deps)) {}

  grpc::Status Plugins(grpc::ServerContext*, const pb::PluginsRequest* request,
                       pb::PluginsResponse* response) override {
    absl::StatusOr<Filter> filter =
        Filter::Parse({request->filters().begin(), request->filters().end()});
    if (!filter.ok()) return ToGrpc(filter.status());
    for (const pb::Plugin& p : plugins_) {
      std::map<std::string, std::string> fields = {{"type", p.type()},
                                                   {"id", p.id()}};
      if (filter->Matches(FieldsAndLabels(fields, {})))
        *response->add_plugins() = p;
    }
    return grpc::Status::OK;
  }

  grpc::Status Server(grpc::ServerContext*, const google::protobuf::Empty*,
                      pb::ServerResponse* response) override {
    absl::StatusOr<std::string> uuid = Uuid();
    if (!uuid.ok()) return ToGrpc(uuid.status());
    response->set_uuid(*uuid);
    return grpc::Status::OK;
  }

 private:
  static std::vector<pb::Plugin> BuildPlugins(const ContainerdApiDeps& deps) {
    std::vector<pb::Plugin> out;
    auto add = [&](absl::string_view type, absl::string_view id,
                   std::vector<std::string> needs) -> pb::Plugin& {
      pb::Plugin& p = out.emplace_back();
      p.set_type(std::string(type));
      p.set_id(std::string(id));
      for (std::string& r : needs) p.add_requires(std::move(r));
      return p;
    };
    auto platform = [](pb::Plugin& p) {
      auto* pl = p.add_platforms();
      pl->set_os("linux");
      pl->set_architecture(GoArch());
    };
    add("io.containerd.content.v1", "content", {})
        .mutable_exports()
        ->insert({"root", absl::StrCat(deps.root, "/content")});
    // cradled runs one snapshotter; the other is reported as containerd
    // reports a snapshotter that could not start.
    for (const char* name : {"native", "overlayfs"}) {
      pb::Plugin& p = add("io.containerd.snapshotter.v1", name, {});
      platform(p);
      if (deps.snapshotter != nullptr && deps.snapshotter_name == name) {
        p.mutable_exports()->insert({"root", deps.snapshot_root});
      } else {
        p.mutable_init_err()->set_code(
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
        p.mutable_init_err()->set_message(absl::StrCat(
            "cradled runs the ", deps.snapshotter_name,
            " snapshotter only; set [snapshots] in its config to use ", name));
      }
    }
    add("io.containerd.metadata.v1", "metadata",
        {"io.containerd.content.v1", "io.containerd.snapshotter.v1"})
        .mutable_exports()
        ->insert({"root", absl::StrCat(deps.root, "/metadata")});
    platform(add("io.containerd.differ.v1", "walking",
                 {"io.containerd.metadata.v1"}));
    add("io.containerd.gc.v1", "scheduler", {"io.containerd.metadata.v1"});
    add("io.containerd.lease.v1", "manager", {"io.containerd.metadata.v1"});
    add("io.containerd.event.v1", "exchange", {});
    pb::Plugin& task =
        add("io.containerd.runtime.v2", "task",
            {"io.containerd.event.v1", "io.containerd.metadata.v1"});
    platform(task);
    task.mutable_exports()->insert(
        {"root", absl::StrCat(deps.root, "/io.containerd.runtime.v2.task")});
    task.mutable_exports()->insert(
        {"state", absl::StrCat(deps.state, "/io.containerd.runtime.v2.task")});
    for (const char* service :
         {"containers", "content", "diff", "events", "images", "introspection",
          "leases", "namespaces", "snapshots", "tasks", "version"}) {
      add("io.containerd.grpc.v1", service, {"io.containerd.metadata.v1"});
    }
    pb::Plugin& cri =
        add("io.containerd.grpc.v1", "cri",
            {"io.containerd.event.v1", "io.containerd.service.v1"});
    platform(cri);
    return out;
  }

  // Read once, created on first use, written atomically.
  absl::StatusOr<std::string> Uuid() {
    absl::MutexLock lock(&mu_);
    if (!uuid_.empty()) return uuid_;
    std::string path = absl::StrCat(deps_.root, "/", kUuidFile);
    {
      std::ifstream in(path);
      std::string text;
      if (in && std::getline(in, text)) {
        text = std::string(absl::StripAsciiWhitespace(text));
        if (text.size() == 36) {
          uuid_ = text;
          return uuid_;
        }
      }
    }
    std::string uuid = NewUuid();
    std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << uuid << "\n";
      out.flush();
      if (!out) {
        return absl::InternalError(
            absl::StrCat("write server uuid to ", tmp, " failed"));
      }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("rename ", tmp, " to ", path, ": ", ec.message()));
    }
    uuid_ = uuid;
    return uuid_;
  }

  const ContainerdApiDeps& deps_;
  const std::vector<pb::Plugin> plugins_;
  absl::Mutex mu_;
  std::string uuid_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<grpc::Service> NewIntrospectionService(
    const ContainerdApiDeps& deps) {
  return std::make_unique<IntrospectionService>(deps);
}

}  // namespace cradle::containerd_api
