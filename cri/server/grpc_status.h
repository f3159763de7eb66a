// absl::Status -> grpc::Status at the CRI edge. The canonical codes are the
// same numbers in both, so the code carries over as is.
#ifndef CRADLE_CRI_SERVER_GRPC_STATUS_H_
#define CRADLE_CRI_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace cradle {

inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

}  // namespace cradle

#endif  // CRADLE_CRI_SERVER_GRPC_STATUS_H_
