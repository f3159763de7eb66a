// Content digests in the OCI form "<algorithm>:<hex>" and a streaming sha256.
//
// Only sha256 is accepted today: it is what every registry and image this
// runtime meets uses, and what names blobs on disk
// (<root>/content/blobs/sha256/<hex>).
#ifndef CRADLE_DIGEST_DIGEST_H_
#define CRADLE_DIGEST_DIGEST_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cradle {

// A validated digest. Cheap to copy; compares by value.
class Digest {
 public:
  // Parses "sha256:<64 lowercase hex>". InvalidArgument names what is wrong.
  static absl::StatusOr<Digest> Parse(absl::string_view text);
  // Builds a sha256 digest from 64 lowercase hex characters (CHECKed).
  static Digest FromSha256Hex(absl::string_view hex);
  // The sha256 of `data`.
  static Digest OfBytes(absl::string_view data);

  const std::string& algorithm() const { return algorithm_; }
  const std::string& hex() const { return hex_; }
  std::string ToString() const { return algorithm_ + ":" + hex_; }

  friend bool operator==(const Digest& a, const Digest& b) {
    return a.algorithm_ == b.algorithm_ && a.hex_ == b.hex_;
  }
  friend bool operator!=(const Digest& a, const Digest& b) { return !(a == b); }
  friend bool operator<(const Digest& a, const Digest& b) {
    return a.ToString() < b.ToString();
  }
  template <typename H>
  friend H AbslHashValue(H h, const Digest& d) {
    return H::combine(std::move(h), d.algorithm_, d.hex_);
  }

 private:
  Digest(std::string algorithm, std::string hex)
      : algorithm_(std::move(algorithm)), hex_(std::move(hex)) {}
  std::string algorithm_;
  std::string hex_;
};

// Incremental sha256 over a stream of bytes. Not thread-safe.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(absl::string_view data);
  void Update(const void* data, size_t size);
  // The digest of everything written so far; the hasher can keep going.
  Digest Current() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cradle

#endif  // CRADLE_DIGEST_DIGEST_H_
