#include "cri/runtime/runtime_service.h"
#include "glog/logging.h"

namespace cradle {
namespace {

void Fill(const char* type, ReadinessCheck& check,
          runtime::v1::RuntimeCondition* condition) {
  Readiness readiness = check.Check();
  condition->set_type(type);
  condition->set_status(readiness.ready);
  if (!readiness.ready) {
    condition->set_reason(readiness.reason);
    condition->set_message(readiness.message);
  }
}

}  // namespace

grpc::Status RuntimeService::Status(grpc::ServerContext*,
                                    const runtime::v1::StatusRequest* request,
                                    runtime::v1::StatusResponse* response) {
  runtime::v1::RuntimeStatus* status = response->mutable_status();
  Fill("RuntimeReady", *options_.runtime_ready, status->add_conditions());
  Fill("NetworkReady", *options_.network_ready, status->add_conditions());
  // Usable handlers only, and the default once more under "", as
  // containerd lists it: the kubelet reads "" as "no RuntimeClass".
  // Both features are cradle's own mount copies, the same for every
  // handler.
  auto add = [&](const std::string& name) {
    runtime::v1::RuntimeHandler* h = response->add_runtime_handlers();
    h->set_name(name);
    h->mutable_features()->set_recursive_read_only_mounts(
        options_.recursive_read_only_mounts);
    h->mutable_features()->set_user_namespaces(options_.user_namespaces);
  };
  add("");
  for (const RuntimeHandler* h : options_.handlers->All()) {
    if (h->runc) add(h->name);
  }
  response->mutable_features()->set_supplemental_groups_policy(true);
  if (request->verbose()) {
    (*response->mutable_info())["config"] = options_.config_json;
    absl::MutexLock lock(&pod_cidr_mu_);
    (*response->mutable_info())["podCIDR"] = pod_cidr_;
  }
  return grpc::Status::OK;
}

}  // namespace cradle

namespace cradle {

grpc::Status RuntimeService::RuntimeConfig(
    grpc::ServerContext*, const runtime::v1::RuntimeConfigRequest*,
    runtime::v1::RuntimeConfigResponse* response) {
  response->mutable_linux()->set_cgroup_driver(
      options_.systemd_cgroup ? runtime::v1::SYSTEMD : runtime::v1::CGROUPFS);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::UpdateRuntimeConfig(
    grpc::ServerContext*,
    const runtime::v1::UpdateRuntimeConfigRequest* request,
    runtime::v1::UpdateRuntimeConfigResponse*) {
  const std::string& cidr =
      request->runtime_config().network_config().pod_cidr();
  absl::MutexLock lock(&pod_cidr_mu_);
  if (!cidr.empty() && cidr != pod_cidr_) {
    // The CNI config in conf_dir decides addresses; the CIDR is recorded
    // for Status(verbose) as the kubelet's view of this node.
    LOG(INFO) << "pod CIDR is now " << cidr;
    pod_cidr_ = cidr;
  }
  return grpc::Status::OK;
}

}  // namespace cradle
