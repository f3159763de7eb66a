#include "digest/digest.h"

#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"

namespace cradle {
namespace {

constexpr size_t kSha256HexLength = 64;

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ToHex(const unsigned char* bytes, unsigned int n) {
  std::string out;
  out.reserve(n * 2);
  for (unsigned int i = 0; i < n; ++i)
    absl::StrAppendFormat(&out, "%02x", bytes[i]);
  return out;
}

}  // namespace

absl::StatusOr<Digest> Digest::Parse(absl::string_view text) {
  size_t colon = text.find(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "digest \"", text, "\" has no algorithm prefix (want sha256:<hex>)"));
  }
  absl::string_view algorithm = text.substr(0, colon);
  absl::string_view hex = text.substr(colon + 1);
  if (algorithm != "sha256") {
    return absl::InvalidArgumentError(absl::StrCat(
        "digest \"", text, "\": unsupported algorithm \"", algorithm, "\""));
  }
  if (hex.size() != kSha256HexLength || !IsLowerHex(hex)) {
    return absl::InvalidArgumentError(
        absl::StrCat("digest \"", text,
                     "\": want 64 lowercase hex characters after \"sha256:\""));
  }
  return Digest(std::string(algorithm), std::string(hex));
}

Digest Digest::FromSha256Hex(absl::string_view hex) {
  CHECK(hex.size() == kSha256HexLength && IsLowerHex(hex))
      << "bad sha256 hex: " << hex;
  return Digest("sha256", std::string(hex));
}

Digest Digest::OfBytes(absl::string_view data) {
  Sha256Hasher hasher;
  hasher.Update(data);
  return hasher.Current();
}

struct Sha256Hasher::State {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256Hasher::Sha256Hasher() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  CHECK(state_->ctx != nullptr);
  CHECK_EQ(EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr), 1);
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(state_->ctx); }

void Sha256Hasher::Update(absl::string_view data) {
  Update(data.data(), data.size());
}

void Sha256Hasher::Update(const void* data, size_t size) {
  CHECK_EQ(EVP_DigestUpdate(state_->ctx, data, size), 1);
}

Digest Sha256Hasher::Current() const {
  // Finalise a copy so the running state can keep accepting bytes.
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  CHECK(copy != nullptr);
  CHECK_EQ(EVP_MD_CTX_copy_ex(copy, state_->ctx), 1);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  CHECK_EQ(EVP_DigestFinal_ex(copy, out, &n), 1);
  EVP_MD_CTX_free(copy);
  return Digest::FromSha256Hex(ToHex(out, n));
}

}  // namespace cradle
