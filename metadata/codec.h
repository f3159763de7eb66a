// Internal to the metadata store: the key and the encoded value of each
// record type. Keys come from keys.h; values are records.proto messages.
#ifndef CRADLE_METADATA_CODEC_H_
#define CRADLE_METADATA_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "metadata/metadata.h"

namespace cradle::metadata_codec {

// The record's key. InvalidArgument when a name or id is unusable.
absl::StatusOr<std::string> KeyOf(absl::string_view ns, const Record& record);
// The prefix under which all records of `prototype`'s type in `ns` live.
std::string PrefixOf(absl::string_view ns, const Record& prototype);
// "image \"busybox\"", for messages.
std::string Describe(const Record& record);

std::string Encode(const Record& record);
// `key` is the full key (lease resources live in their key alone).
absl::StatusOr<Record> Decode(const Record& prototype, absl::string_view ns,
                              absl::string_view key, absl::string_view value);

// Sets created_at (where the type has one) and updated_at.
void SetTimes(Record& record, absl::Time created, absl::Time updated);
// created_at, or InfinitePast for types without one.
absl::Time CreatedAt(const Record& record);

}  // namespace cradle::metadata_codec

#endif  // CRADLE_METADATA_CODEC_H_
