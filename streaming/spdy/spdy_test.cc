#include <sys/socket.h>
#include <zlib.h>

#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "streaming/spdy/dictionary.h"
#include "streaming/spdy/framer.h"
#include "streaming/spdy/session.h"

namespace cradle::spdy {
namespace {

TEST(Dictionary, IsTheOneSpdy3Specifies) {
  const std::string& d = HeaderDictionary();
  EXPECT_EQ(d.size(), 1423u);
  // zlib names a preset dictionary by its Adler-32; peers check it.
  EXPECT_EQ(adler32(1, reinterpret_cast<const Bytef*>(d.data()), d.size()),
            0xe3c6a7c2u);
}

TEST(Framer, HeaderBlocksShareOneCompressionContext) {
  Framer sender, receiver;
  std::string wire;
  for (uint32_t id : {1, 3, 5}) {
    Frame syn;
    syn.type = FrameType::kSynStream;
    syn.stream_id = id;
    syn.priority = 2;
    syn.headers = {{"streamtype", "stdout"}, {"port", std::to_string(id)}};
    wire += sender.Encode(syn);
  }
  Frame data;
  data.stream_id = 3;
  data.flags = kFlagFin;
  data.data = std::string(70000, 'x');
  wire += sender.Encode(data);

  for (uint32_t id : {1, 3, 5}) {
    absl::StatusOr<std::optional<Frame>> f = receiver.Parse(&wire);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE(f->has_value());
    EXPECT_EQ((*f)->type, FrameType::kSynStream);
    EXPECT_EQ((*f)->stream_id, id);
    EXPECT_EQ((*f)->priority, 2);
    EXPECT_EQ(HeaderValue((*f)->headers, "StreamType"), "stdout");
    EXPECT_EQ(HeaderValue((*f)->headers, "port"), std::to_string(id));
  }
  absl::StatusOr<std::optional<Frame>> f = receiver.Parse(&wire);
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->type, FrameType::kData);
  EXPECT_TRUE((*f)->fin());
  EXPECT_EQ((*f)->data.size(), 70000u);
  EXPECT_TRUE(wire.empty());
}

TEST(Framer, WaitsForWholeFramesAndRejectsOtherVersions) {
  Framer sender, receiver;
  Frame ping;
  ping.type = FrameType::kPing;
  ping.value = 7;
  std::string wire = sender.Encode(ping);
  std::string half = wire.substr(0, 5);
  absl::StatusOr<std::optional<Frame>> f = receiver.Parse(&half);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->has_value());
  EXPECT_EQ(half.size(), 5u);

  wire[1] = 2;  // SPDY/2
  f = receiver.Parse(&wire);
  EXPECT_FALSE(f.ok());
}

TEST(Framer, CorruptHeaderBlockIsAnError) {
  Framer receiver;
  std::string wire = {'\x80', '\x03', '\x00', '\x02', '\x00', '\x00',
                      '\x00', '\x08', '\x00', '\x00', '\x00', '\x01',
                      'g',    'a',    'r',    'b'};
  absl::StatusOr<std::optional<Frame>> f = receiver.Parse(&wire);
  EXPECT_FALSE(f.ok());
}

TEST(Session, StreamsCarryDataBothWaysAndHalfClose) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Session server(fds[0], /*is_server=*/true);
  Session client(fds[1], /*is_server=*/false);
  std::thread server_reader([&] {
    server.Serve([](std::shared_ptr<Stream> s) {
      // Echo on a thread: Serve's callback must not block.
      std::thread([s] {
        std::string chunk, all;
        while (s->Read(&chunk)) all += chunk;
        (void)s->Write(s->Header("streamtype") + ":" + all);
        s->Close();
      }).detach();
    });
  });
  std::thread client_reader([&] { client.Serve(nullptr); });

  absl::StatusOr<std::shared_ptr<Stream>> a =
      client.Open({{"streamtype", "a"}}, absl::Seconds(5));
  absl::StatusOr<std::shared_ptr<Stream>> b =
      client.Open({{"streamtype", "b"}}, absl::Seconds(5));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->id(), 1u);
  EXPECT_EQ((*b)->id(), 3u);
  ASSERT_TRUE((*b)->Write("two").ok());
  ASSERT_TRUE((*a)->Write(std::string(100000, 'q')).ok());
  (*a)->Close();
  (*b)->Close();
  EXPECT_FALSE((*a)->Write("late").ok());
  std::string got, chunk;
  while ((*a)->Read(&chunk)) got += chunk;
  EXPECT_EQ(got, "a:" + std::string(100000, 'q'));
  got.clear();
  while ((*b)->Read(&chunk)) got += chunk;
  EXPECT_EQ(got, "b:two");
  EXPECT_EQ(client.open_streams(), 0u) << "finished streams are forgotten";

  client.Shutdown(absl::Seconds(5));
  client_reader.join();
  server_reader.join();
  EXPECT_TRUE(server.ended());
}

TEST(Session, ConnectionLossEndsBlockedReaders) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::shared_ptr<Stream> accepted;
  absl::Mutex mu;
  auto server = std::make_unique<Session>(fds[0], /*is_server=*/true);
  std::thread server_reader([&] {
    server->Serve([&](std::shared_ptr<Stream> s) {
      absl::MutexLock lock(&mu);
      accepted = s;
    });
  });
  Session client(fds[1], /*is_server=*/false);
  std::thread client_reader([&] { client.Serve(nullptr); });
  absl::StatusOr<std::shared_ptr<Stream>> s =
      client.Open({{"streamtype", "x"}}, absl::Seconds(5));
  ASSERT_TRUE(s.ok());
  std::thread blocked([&] {
    std::string chunk;
    EXPECT_FALSE((*s)->Read(&chunk));
  });
  server->Abort();
  blocked.join();
  client_reader.join();
  server_reader.join();
}

// A SYN_STREAM for stream 1 whose header block is `block` as given.
std::string RawSynStream(const std::string& block) {
  std::string payload("\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
  payload += block;
  std::string frame("\x80\x03\x00\x01\x00", 5);
  frame.push_back(static_cast<char>(payload.size() >> 16));
  frame.push_back(static_cast<char>(payload.size() >> 8));
  frame.push_back(static_cast<char>(payload.size()));
  return frame + payload;
}

// `plain` compressed as SPDY does (dictionary primed), ended with Z_FINISH
// rather than SPDY's endless Z_SYNC_FLUSH.
std::string FinishedZlibStream(const std::string& plain) {
  z_stream z{};
  deflateInit(&z, Z_DEFAULT_COMPRESSION);
  const std::string& d = HeaderDictionary();
  deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(d.data()), d.size());
  std::string out(deflateBound(&z, plain.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  z.avail_in = plain.size();
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = out.size();
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
          static_cast<char>(v >> 8), static_cast<char>(v)};
}

absl::StatusCode ParseCode(Framer& receiver, std::string wire) {
  absl::StatusOr<std::optional<Frame>> f = receiver.Parse(&wire);
  return f.status().code();
}

TEST(FramerLimits, NulSeparatedValuesCannotMultiplyALongName) {
  // 60 KB of NULs under a 1 KB name would split into 60,001 headers of
  // 1 KB each: 60 MB from a frame of a few hundred bytes.
  Frame syn;
  syn.type = FrameType::kSynStream;
  syn.stream_id = 1;
  syn.headers = {{std::string(1000, 'n'), std::string(60000, '\0')}};
  Framer sender, receiver;
  EXPECT_EQ(ParseCode(receiver, sender.Encode(syn)),
            absl::StatusCode::kResourceExhausted);
}

TEST(FramerLimits, HeaderBlockInflatingPastTheCapIsRefused) {
  Frame syn;
  syn.type = FrameType::kSynStream;
  syn.stream_id = 1;
  syn.headers = {{"x", std::string(Framer::kMaxHeaderBlock + 1, 'a')}};
  Framer sender, receiver;
  std::string wire = sender.Encode(syn);
  ASSERT_LT(wire.size(), 4096u) << "compresses well: the cap is on inflation";
  EXPECT_EQ(ParseCode(receiver, wire), absl::StatusCode::kResourceExhausted);

  // Just under the cap still works.
  Framer sender2, receiver2;
  syn.headers = {{"x", std::string(Framer::kMaxHeaderBlock - 64, 'a')}};
  std::string ok = sender2.Encode(syn);
  absl::StatusOr<std::optional<Frame>> f = receiver2.Parse(&ok);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->headers.size(), 1u);
}

TEST(FramerLimits, TooManyHeadersAreRefused) {
  std::string plain = Be32(Framer::kMaxHeaders + 1);
  for (size_t i = 0; i <= Framer::kMaxHeaders; ++i) {
    plain += Be32(1) + "a" + Be32(0);
  }
  Framer receiver;
  EXPECT_EQ(ParseCode(receiver, RawSynStream(FinishedZlibStream(plain))),
            absl::StatusCode::kResourceExhausted);
}

TEST(FramerLimits, InputPastTheZlibStreamEndIsAnErrorNotALoop) {
  // inflate() answers Z_STREAM_END again and again without consuming
  // what follows; the parser must not spin on it.
  std::string plain = Be32(1) + Be32(1) + "a" + Be32(1) + "b";
  std::string block = FinishedZlibStream(plain) + "trailing";
  Framer receiver;
  EXPECT_EQ(ParseCode(receiver, RawSynStream(block)),
            absl::StatusCode::kInvalidArgument);
}

TEST(FramerLimits, OversizedFramesAreRefusedFromTheirHeader) {
  std::string wire("\x00\x00\x00\x01\x00\xff\xff\xff", 8);
  Framer receiver;
  EXPECT_EQ(ParseCode(receiver, wire), absl::StatusCode::kResourceExhausted);
}

TEST(SessionLimits, StreamsPastTheCapAreRefused) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Session server(fds[0], /*is_server=*/true);
  Session client(fds[1], /*is_server=*/false);
  std::vector<std::shared_ptr<Stream>> held;  // reading thread only
  std::thread server_reader([&] {
    server.Serve([&](std::shared_ptr<Stream> s) { held.push_back(s); });
  });
  std::thread client_reader([&] { client.Serve(nullptr); });
  for (size_t i = 0; i < Session::kMaxOpenStreams; ++i) {
    absl::StatusOr<std::shared_ptr<Stream>> s =
        client.Open({{"n", absl::StrCat(i)}}, absl::Seconds(5));
    ASSERT_TRUE(s.ok()) << i << ": " << s.status();
  }
  absl::StatusOr<std::shared_ptr<Stream>> over =
      client.Open({{"n", "over"}}, absl::Seconds(5));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kUnavailable)
      << over.status();
  EXPECT_EQ(server.open_streams(), Session::kMaxOpenStreams);
  client.Abort();
  client_reader.join();
  server_reader.join();
}

TEST(SessionLimits, AnIdleConnectionIsCut) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Session server(fds[0], /*is_server=*/true);
  Session client(fds[1], /*is_server=*/false);
  std::thread client_reader([&] { client.Serve(nullptr); });
  absl::Time start = absl::Now();
  // Returns only because nothing passes for 200 ms.
  server.Serve(nullptr, absl::Milliseconds(200));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  client_reader.join();  // the cut reaches the peer
  EXPECT_TRUE(client.ended());
}

}  // namespace
}  // namespace cradle::spdy
