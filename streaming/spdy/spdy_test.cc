#include <sys/socket.h>
#include <zlib.h>

#include <thread>

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

}  // namespace
}  // namespace cradle::spdy
