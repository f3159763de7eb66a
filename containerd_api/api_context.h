// What every containerd API handler needs from a call: its namespace and
// lease (gRPC metadata, as containerd's clients send them), status
// conversion, and the small conversions between cradle's types and the
// wire types (times, labels, filters).
#ifndef CRADLE_CONTAINERD_API_API_CONTEXT_H_
#define CRADLE_CONTAINERD_API_API_CONTEXT_H_

#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/grpcpp.h>

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace cradle::containerd_api {

// The metadata keys containerd's clients put their namespace and lease in.
inline constexpr char kNamespaceHeader[] = "containerd-namespace";
inline constexpr char kLeaseHeader[] = "containerd-lease";
// The namespace the CRI's objects live in.
inline constexpr char kCriNamespace[] = "k8s.io";

// InvalidArgument unless `ns` is a containerd namespace name: letters and
// digits, runs of them joined by single '.', '_' or '-', at most 76 bytes.
absl::Status ValidateNamespace(absl::string_view ns);

// The call's namespace: InvalidArgument when it sends none (containerd
// answers the same) or an invalid one.
absl::StatusOr<std::string> RequestNamespace(const grpc::ServerContext* ctx);
// The call's lease id, "" when it names none.
std::string RequestLease(const grpc::ServerContext* ctx);

grpc::Status ToGrpc(const absl::Status& status);

// Runs a handler body so no exception leaves it: one that escapes (out of
// memory, a library's throw) becomes Internal, prefixed with `what`.
template <typename Fn>
absl::Status NoThrow(absl::string_view what, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(what, ": unknown exception"));
  }
}

// containerd's limit on one label, key and value together: labels live in
// every record and in every List reply, so a client may not make them
// arbitrarily large.
inline constexpr size_t kMaxLabelBytes = 4096;

// InvalidArgument, naming the key and `what` ("image", "snapshot", ...),
// when a label key is empty or a label is over kMaxLabelBytes.
absl::Status CheckLabel(absl::string_view what, absl::string_view key,
                        absl::string_view value);
// CheckLabel over a label map (std::map or google::protobuf::Map).
template <typename LabelMap>
absl::Status CheckLabels(absl::string_view what, const LabelMap& labels) {
  for (const auto& [key, value] : labels) {
    if (absl::Status s = CheckLabel(what, key, value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

google::protobuf::Timestamp ToProto(absl::Time t);
absl::Time FromProto(const google::protobuf::Timestamp& t);

// containerd's filter syntax, enough of it for its clients' list calls:
// a request carries filters that are OR'd; each is a ','-separated AND of
// `field==value`, `field!=value`, `field~=regexp` or a bare `field`
// (present). Field paths are '.'-joined; a quoted component ("...") may hold
// dots, as in labels."io.cri-containerd.kind"==sandbox.
class Filter {
 public:
  // InvalidArgument naming the filter that does not parse.
  static absl::StatusOr<Filter> Parse(const std::vector<std::string>& filters);
  // What the object says at a field path; nullopt-like "" with present=false.
  using Lookup = std::function<bool(const std::vector<std::string>& path,
                                    std::string* value)>;
  // True for an empty filter list.
  bool Matches(const Lookup& lookup) const;

 private:
  struct Term {
    std::vector<std::string> path;
    enum class Op { kPresent, kEqual, kNotEqual, kMatches } op;
    std::string value;
    // kMatches: compiled once. RE2, not std::regex: a client's pattern must
    // not cost exponential time or recurse through the stack.
    std::shared_ptr<const re2::RE2> pattern;
  };
  std::vector<std::vector<Term>> any_of_;  // OR of ANDs
};

// Lookup for the common shape: top-level string fields plus "labels.<key>".
Filter::Lookup FieldsAndLabels(
    const std::map<std::string, std::string>& fields,
    const std::map<std::string, std::string>& labels);

}  // namespace cradle::containerd_api

#endif  // CRADLE_CONTAINERD_API_API_CONTEXT_H_
