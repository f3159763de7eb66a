#include "streaming/spdy/framer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "streaming/spdy/dictionary.h"

namespace cradle::spdy {
namespace {

constexpr uint16_t kVersion = 3;
constexpr size_t kFrameHeaderSize = 8;

uint32_t Read32(absl::string_view s, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void Append32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

void AppendFrameHeader(std::string* out, uint32_t first_word, uint8_t flags,
                       uint32_t length) {
  Append32(out, first_word);
  out->push_back(static_cast<char>(flags));
  out->push_back(static_cast<char>((length >> 16) & 0xff));
  out->push_back(static_cast<char>((length >> 8) & 0xff));
  out->push_back(static_cast<char>(length & 0xff));
}

// The payload a control frame carries before its header block, if any.
size_t HeaderBlockOffset(FrameType type) {
  switch (type) {
    case FrameType::kSynStream:
      return 10;
    case FrameType::kSynReply:
    case FrameType::kHeaders:
      return 4;
    default:
      return 0;
  }
}

// The fixed part of each control frame's payload.
size_t MinimumPayload(FrameType type) {
  switch (type) {
    case FrameType::kRstStream:
    case FrameType::kWindowUpdate:
    case FrameType::kGoAway:
      return 8;
    case FrameType::kPing:
      return 4;
    default:
      return HeaderBlockOffset(type);
  }
}

}  // namespace

std::string HeaderValue(const Headers& headers, absl::string_view name) {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

Framer::Framer() {
  deflateInit(&deflate_, Z_DEFAULT_COMPRESSION);
  const std::string& dictionary = HeaderDictionary();
  deflateSetDictionary(&deflate_,
                       reinterpret_cast<const Bytef*>(dictionary.data()),
                       dictionary.size());
  inflate_ready_ = inflateInit(&inflate_) == Z_OK;
}

Framer::~Framer() {
  deflateEnd(&deflate_);
  if (inflate_ready_) inflateEnd(&inflate_);
}

absl::StatusOr<Headers> Framer::DecodeHeaderBlock(absl::string_view block) {
  if (!inflate_ready_) return absl::InternalError("zlib failed to start");
  std::string plain;
  inflate_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  inflate_.avail_in = block.size();
  char chunk[4096];
  while (inflate_.avail_in > 0) {
    inflate_.next_out = reinterpret_cast<Bytef*>(chunk);
    inflate_.avail_out = sizeof(chunk);
    int rc = inflate(&inflate_, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      const std::string& dictionary = HeaderDictionary();
      rc = inflateSetDictionary(
          &inflate_, reinterpret_cast<const Bytef*>(dictionary.data()),
          dictionary.size());
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) {
      return absl::InvalidArgumentError(
          absl::StrCat("corrupt SPDY header block (zlib error ", rc, ")"));
    }
    plain.append(chunk, sizeof(chunk) - inflate_.avail_out);
    if (plain.size() > kMaxHeaderBlock) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "SPDY header block inflates past ", kMaxHeaderBlock, " bytes"));
    }
    // SPDY's compression context never ends: input past a zlib stream end
    // cannot be decoded (and inflate would answer Z_STREAM_END forever).
    if (rc == Z_STREAM_END && inflate_.avail_in > 0) {
      return absl::InvalidArgumentError(
          "SPDY header block continues past the end of its zlib stream");
    }
    if (rc == Z_BUF_ERROR && inflate_.avail_out == sizeof(chunk)) break;
  }
  // Count, then length-prefixed name/value pairs.
  Headers headers;
  if (plain.size() < 4) return absl::InvalidArgumentError("short header block");
  uint32_t count = Read32(plain, 0);
  if (count > kMaxHeaders) {
    return absl::ResourceExhaustedError(
        absl::StrCat("SPDY header block of ", count, " headers (at most ",
                     kMaxHeaders, ")"));
  }
  size_t at = 4;
  size_t total = 0;  // what the split headers take
  for (uint32_t i = 0; i < count; ++i) {
    std::string parts[2];
    for (std::string& part : parts) {
      if (plain.size() < at + 4) {
        return absl::InvalidArgumentError("truncated header block");
      }
      uint32_t n = Read32(plain, at);
      at += 4;
      if (plain.size() - at < n) {
        return absl::InvalidArgumentError("truncated header block");
      }
      part = plain.substr(at, n);
      at += n;
    }
    // Several values of one name travel NUL-separated; each piece repeats
    // the name, so a block of NULs must not multiply a long name.
    for (absl::string_view v : absl::StrSplit(parts[1], '\0')) {
      total += parts[0].size() + v.size();
      if (total > kMaxHeaderBlock || headers.size() >= kMaxHeaders) {
        return absl::ResourceExhaustedError(
            absl::StrCat("SPDY header block expands past ", kMaxHeaders,
                         " headers or ", kMaxHeaderBlock, " bytes"));
      }
      headers.emplace_back(absl::AsciiStrToLower(parts[0]), std::string(v));
    }
  }
  return headers;
}

std::string Framer::EncodeHeaderBlock(const Headers& headers) {
  std::string plain;
  Append32(&plain, headers.size());
  for (const auto& [name, value] : headers) {
    Append32(&plain, name.size());
    plain += absl::AsciiStrToLower(name);
    Append32(&plain, value.size());
    plain += value;
  }
  std::string compressed;
  deflate_.next_in = reinterpret_cast<Bytef*>(plain.data());
  deflate_.avail_in = plain.size();
  char chunk[4096];
  do {
    deflate_.next_out = reinterpret_cast<Bytef*>(chunk);
    deflate_.avail_out = sizeof(chunk);
    deflate(&deflate_, Z_SYNC_FLUSH);
    compressed.append(chunk, sizeof(chunk) - deflate_.avail_out);
  } while (deflate_.avail_out == 0);
  return compressed;
}

absl::StatusOr<std::optional<Frame>> Framer::Parse(std::string* buffer) {
  if (buffer->size() < kFrameHeaderSize) return std::nullopt;
  uint32_t first = Read32(*buffer, 0);
  uint32_t length = Read32(*buffer, 4) & 0xffffff;
  if (length > kMaxPayload) {
    return absl::ResourceExhaustedError(
        absl::StrCat("SPDY frame of ", length, " bytes is too large"));
  }
  if (buffer->size() < kFrameHeaderSize + length) return std::nullopt;
  Frame frame;
  frame.flags = static_cast<uint8_t>((*buffer)[4]);
  std::string payload = buffer->substr(kFrameHeaderSize, length);
  buffer->erase(0, kFrameHeaderSize + length);

  if ((first & 0x80000000u) == 0) {
    frame.type = FrameType::kData;
    frame.stream_id = first & 0x7fffffff;
    frame.data = std::move(payload);
    return frame;
  }
  uint16_t version = (first >> 16) & 0x7fff;
  if (version != kVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("SPDY version ", version, " is not supported (want 3)"));
  }
  frame.type = static_cast<FrameType>(first & 0xffff);
  size_t block_at = HeaderBlockOffset(frame.type);
  if (payload.size() < MinimumPayload(frame.type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("short SPDY control frame of type ", first & 0xffff));
  }
  switch (frame.type) {
    case FrameType::kSynStream:
      frame.associated_stream_id = Read32(payload, 4) & 0x7fffffff;
      frame.priority = static_cast<uint8_t>(payload[8]) >> 5;
      [[fallthrough]];
    case FrameType::kSynReply:
    case FrameType::kHeaders: {
      frame.stream_id = Read32(payload, 0) & 0x7fffffff;
      absl::StatusOr<Headers> headers =
          DecodeHeaderBlock(absl::string_view(payload).substr(block_at));
      if (!headers.ok()) return headers.status();
      frame.headers = *std::move(headers);
      break;
    }
    case FrameType::kRstStream:
    case FrameType::kWindowUpdate:
    case FrameType::kGoAway:
      frame.stream_id = Read32(payload, 0) & 0x7fffffff;
      frame.value = Read32(payload, 4);
      break;
    case FrameType::kPing:
      frame.value = Read32(payload, 0);
      break;
    default:
      break;  // SETTINGS and unknown types carry nothing used here
  }
  return frame;
}

std::string Framer::Encode(const Frame& frame) {
  std::string out;
  if (frame.type == FrameType::kData) {
    AppendFrameHeader(&out, frame.stream_id & 0x7fffffff, frame.flags,
                      frame.data.size());
    out += frame.data;
    return out;
  }
  std::string payload;
  switch (frame.type) {
    case FrameType::kSynStream:
      Append32(&payload, frame.stream_id & 0x7fffffff);
      Append32(&payload, frame.associated_stream_id & 0x7fffffff);
      payload.push_back(static_cast<char>((frame.priority & 0x7) << 5));
      payload.push_back(0);  // slot
      payload += EncodeHeaderBlock(frame.headers);
      break;
    case FrameType::kSynReply:
    case FrameType::kHeaders:
      Append32(&payload, frame.stream_id & 0x7fffffff);
      payload += EncodeHeaderBlock(frame.headers);
      break;
    case FrameType::kRstStream:
    case FrameType::kWindowUpdate:
    case FrameType::kGoAway:
      Append32(&payload, frame.stream_id & 0x7fffffff);
      Append32(&payload, frame.value);
      break;
    case FrameType::kPing:
      Append32(&payload, frame.value);
      break;
    case FrameType::kSettings:
      Append32(&payload, 0);
      break;
    default:
      break;
  }
  AppendFrameHeader(&out,
                    0x80000000u | (uint32_t{kVersion} << 16) |
                        static_cast<uint16_t>(frame.type),
                    frame.flags, payload.size());
  out += payload;
  return out;
}

}  // namespace cradle::spdy
