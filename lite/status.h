// Status and StatusOr for the code that runs inside cradle-shim (process
// spawning, the runc driver, the shim itself).
//
// Why not absl::Status there: the shim is one static binary per pod and its
// resident memory is nearly its text size. Debian's absl archives are not
// built with per-function sections, so absl::Status drags in Cord (and with
// it iostreams) and absl::Mutex drags in time zones (and with them every
// std::locale facet): about a megabyte. These types carry the same codes,
// with the same numbers, so the daemon turns them into absl::Status
// losslessly (lite/absl_status.h).
#ifndef CRADLE_LITE_STATUS_H_
#define CRADLE_LITE_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace cradle::lite {

// absl::StatusCode's values (which are gRPC's).
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// The code's name as absl spells it ("NOT_FOUND").
const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(code == StatusCode::kOk ? "" : message) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NOT_FOUND: message", or "OK".
  std::string ToString() const;
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status CancelledError(std::string m) {
  return Status(StatusCode::kCancelled, std::move(m));
}
inline Status InvalidArgumentError(std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m));
}
inline Status DeadlineExceededError(std::string m) {
  return Status(StatusCode::kDeadlineExceeded, std::move(m));
}
inline Status NotFoundError(std::string m) {
  return Status(StatusCode::kNotFound, std::move(m));
}
inline Status AlreadyExistsError(std::string m) {
  return Status(StatusCode::kAlreadyExists, std::move(m));
}
inline Status FailedPreconditionError(std::string m) {
  return Status(StatusCode::kFailedPrecondition, std::move(m));
}
inline Status InternalError(std::string m) {
  return Status(StatusCode::kInternal, std::move(m));
}
inline Status UnavailableError(std::string m) {
  return Status(StatusCode::kUnavailable, std::move(m));
}
inline Status UnknownError(std::string m) {
  return Status(StatusCode::kUnknown, std::move(m));
}
inline bool IsNotFound(const Status& s) {
  return s.code() == StatusCode::kNotFound;
}

// A T or the Status saying why there is none. Reading the value of an
// error is a bug; it aborts (the shim is built without exceptions in mind).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : status_(status) { MustBeError(); }
  StatusOr(Status&& status) : status_(std::move(status)) { MustBeError(); }
  template <typename U = T, typename = std::enable_if_t<
                                std::is_constructible_v<T, U&&> &&
                                !std::is_same_v<std::decay_t<U>, Status>>>
  StatusOr(U&& value) : value_(std::forward<U>(value)) {}

  bool ok() const { return status_.ok(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  T& value() & { return Checked(); }
  const T& value() const& { return const_cast<StatusOr*>(this)->Checked(); }
  T&& value() && { return std::move(Checked()); }
  T& operator*() & { return Checked(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(Checked()); }
  T* operator->() { return &Checked(); }
  const T* operator->() const { return &value(); }

 private:
  void MustBeError();
  T& Checked();

  Status status_;
  std::optional<T> value_;
};

[[noreturn]] void DieOnBadStatusOr(const Status& status);

template <typename T>
void StatusOr<T>::MustBeError() {
  if (status_.ok()) {
    status_ = InternalError("StatusOr made from an OK status");
  }
}

template <typename T>
T& StatusOr<T>::Checked() {
  if (!value_.has_value()) DieOnBadStatusOr(status_);
  return *value_;
}

// Concatenates strings and integers, like absl::StrCat.
namespace internal {
inline void Append(std::string* out, std::string_view s) { out->append(s); }
inline void Append(std::string* out, const char* s) { out->append(s); }
inline void Append(std::string* out, const std::string& s) { out->append(s); }
inline void Append(std::string* out, char c) { out->push_back(c); }
template <typename N, typename = std::enable_if_t<std::is_integral_v<N>>>
void Append(std::string* out, N n) {
  out->append(std::to_string(n));
}
}  // namespace internal

template <typename... Parts>
std::string StrCat(const Parts&... parts) {
  std::string out;
  (internal::Append(&out, parts), ...);
  return out;
}

}  // namespace cradle::lite

#endif  // CRADLE_LITE_STATUS_H_
