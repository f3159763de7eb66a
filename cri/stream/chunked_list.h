// The CRI's Stream* list RPCs: a list sent as a stream of bounded
// messages, so that no single message nears gRPC's size limit however many
// pods, containers or images the node has.
#ifndef CRADLE_CRI_STREAM_CHUNKED_LIST_H_
#define CRADLE_CRI_STREAM_CHUNKED_LIST_H_

#include <cstddef>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "grpcpp/support/status.h"
#include "grpcpp/support/sync_stream.h"

namespace cradle {

// How much one streamed message may carry. The byte budget is well under
// gRPC's default 4 MiB receive limit; an item larger than the budget on its
// own still goes, alone in its message.
struct ChunkLimits {
  size_t max_bytes = size_t{1} << 20;  // by ByteSizeLong
  int max_items = 1000;
};

// Bytes `item` adds to a message as one element of a repeated field: its
// size plus a tag (field numbers below 2048: at most 2 bytes) and length.
template <typename Item>
size_t EncodedItemSize(const Item& item) {
  size_t size = item.ByteSizeLong();
  return 2 + google::protobuf::io::CodedOutputStream::VarintSize64(size) + size;
}

// Sends `items` (moved out, in order) as messages of `Response` whose
// repeated field `field` (e.g. &StreamContainersResponse::mutable_containers)
// holds at most `limits` each. An empty list sends no message. CANCELLED
// when the client went away mid-stream.
template <typename Item, typename Response>
grpc::Status StreamInChunks(
    google::protobuf::RepeatedPtrField<Item>* items,
    grpc::ServerWriterInterface<Response>* writer,
    google::protobuf::RepeatedPtrField<Item>* (Response::*field)(),
    const ChunkLimits& limits = ChunkLimits()) {
  Response chunk;
  size_t bytes = 0;
  auto flush = [&]() -> bool {
    if ((chunk.*field)()->empty()) return true;
    bool sent = writer->Write(chunk, grpc::WriteOptions());
    chunk.Clear();
    bytes = 0;
    return sent;
  };
  for (Item& item : *items) {
    size_t size = EncodedItemSize(item);
    google::protobuf::RepeatedPtrField<Item>* out = (chunk.*field)();
    if (!out->empty() &&
        (bytes + size > limits.max_bytes || out->size() >= limits.max_items)) {
      if (!flush()) {
        return grpc::Status(grpc::StatusCode::CANCELLED,
                            "the client stopped reading the stream");
      }
      out = (chunk.*field)();
    }
    out->Add()->Swap(&item);
    bytes += size;
  }
  if (!flush()) {
    return grpc::Status(grpc::StatusCode::CANCELLED,
                        "the client stopped reading the stream");
  }
  return grpc::Status::OK;
}

}  // namespace cradle

#endif  // CRADLE_CRI_STREAM_CHUNKED_LIST_H_
