#include "bench/cri_client.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace cradle::bench {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

CriClient::CriClient(const std::string& endpoint) : endpoint_(endpoint) {
  auto channel =
      grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials());
  runtime_ = v1::RuntimeService::NewStub(channel);
  images_ = v1::ImageService::NewStub(channel);
}

double Percentile(const std::vector<double>& sorted, double p) {
  size_t i = static_cast<size_t>(p * sorted.size());
  return sorted[std::min(sorted.size() - 1, i)];
}

uint64_t ProcKb(int pid, const char* file, absl::string_view field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/", file));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    uint64_t kb = 0;
    if (absl::ConsumePrefix(&rest, field) && absl::ConsumePrefix(&rest, ":") &&
        absl::SimpleAtoi(
            absl::StripSuffix(absl::StripAsciiWhitespace(rest), " kB"), &kb)) {
      return kb;
    }
  }
  return 0;
}

}  // namespace cradle::bench
