// What the CRI benchmarks share: a connection to a CRI endpoint, a call
// helper that turns gRPC's status into absl::Status, percentiles, and
// /proc readers for a process's memory.
//
// Thread-safety: a CriClient may be used from many threads at once (gRPC
// stubs are thread-safe); the free functions keep no state.
#ifndef CRADLE_BENCH_CRI_CLIENT_H_
#define CRADLE_BENCH_CRI_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cri/api/runtime/v1/cri.h"

namespace cradle::bench {

namespace v1 = runtime::v1;

// gRPC's status as absl::Status: same code, same message.
absl::Status FromGrpc(const grpc::Status& s);

// The CRI's RuntimeService and ImageService on one channel.
class CriClient {
 public:
  // `endpoint` is a gRPC target, e.g. "unix:///run/cradle/cradle.sock".
  explicit CriClient(const std::string& endpoint);
  CriClient(const CriClient&) = delete;
  CriClient& operator=(const CriClient&) = delete;

  v1::RuntimeService::Stub& runtime() { return *runtime_; }
  v1::ImageService::Stub& images() { return *images_; }
  const std::string& endpoint() const { return endpoint_; }

  // One unary call of `stub`'s `rpc` with a deadline; e.g.
  //   client.Call(client.runtime(), &v1::RuntimeService::Stub::Version, req,
  //               &resp);
  template <typename Stub, typename Request, typename Response>
  absl::Status Call(Stub& stub,
                    grpc::Status (Stub::*rpc)(grpc::ClientContext*,
                                              const Request&, Response*),
                    const Request& request, Response* response,
                    absl::Duration timeout = absl::Minutes(5)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return FromGrpc((stub.*rpc)(&ctx, request, response));
  }

 private:
  const std::string endpoint_;
  std::unique_ptr<v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<v1::ImageService::Stub> images_;
};

// The p-th quantile (0 <= p <= 1) of `sorted` (ascending, not empty): the
// element at index floor(p * size), the last one for p = 1.
double Percentile(const std::vector<double>& sorted, double p);

// A field of /proc/<pid>/<file> given in kB ("VmRSS" of "status", "Pss" of
// "smaps_rollup"); 0 when the process or the field is absent.
uint64_t ProcKb(int pid, const char* file, absl::string_view field);

}  // namespace cradle::bench

#endif  // CRADLE_BENCH_CRI_CLIENT_H_
