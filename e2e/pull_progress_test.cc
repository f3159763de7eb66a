// A registry that stalls in the middle of a layer, against the real daemon:
// the pull is cancelled once no byte has come for
// images.image_pull_progress_timeout, with an error naming that key, and the
// store stays usable: the same pull succeeds once the registry answers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "digest/digest.h"
#include "e2e/harness/daemon.h"
#include "snapshots/testing/tar_builder.h"

namespace cradle::e2e {
namespace {

using ::testing::HasSubstr;

// Serves one image (repository "stall", tag "latest") over the registry API.
// While `stalling`, a layer request gets its headers and the first part of
// the body, then nothing until the stall is released.
class StallingRegistry {
 public:
  StallingRegistry(std::string config, std::string layer)
      : config_(std::move(config)), layer_(std::move(layer)) {
    config_digest_ = Digest::OfBytes(config_).ToString();
    layer_digest_ = Digest::OfBytes(layer_).ToString();
    manifest_ = absl::StrCat(
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
        R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
        config_digest_, R"(","size":)", config_.size(), "},",
        R"("layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")",
        layer_digest_, R"(","size":)", layer_.size(), "}]}");
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
            0) {
      ADD_FAILURE() << "cannot listen: " << strerror(errno);
      return;
    }
    host_ = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~StallingRegistry() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      stalling_ = false;
    }
    cv_.notify_all();
    shutdown(listen_fd_, SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    for (std::thread& t : connections_) t.join();
    close(listen_fd_);
  }

  const std::string& host() const { return host_; }
  std::string Ref() const { return absl::StrCat(host_, "/stall:latest"); }

  // Ends the stall: held requests finish, later ones are served whole.
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stalling_ = false;
    }
    cv_.notify_all();
  }
  int stalled_requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return stalled_requests_;
  }

 private:
  void AcceptLoop() {
    while (true) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;  // shut down
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        close(fd);
        return;
      }
      connections_.emplace_back([this, fd] {
        Serve(fd);
        close(fd);
      });
    }
  }

  static bool SendAll(int fd, absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(n);
    }
    return true;
  }

  void Serve(int fd) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos &&
           request.size() < 65536) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return;
      request.append(buf, n);
    }
    std::vector<std::string> words =
        absl::StrSplit(request.substr(0, request.find("\r\n")), ' ');
    if (words.size() < 2) return;
    const std::string& path = words[1];
    bool head = words[0] == "HEAD";
    std::string type = "application/octet-stream";
    const std::string* body = nullptr;
    if (path == "/v2/" || path == "/v2") {
      static const std::string kEmpty = "{}";
      body = &kEmpty;
      type = "application/json";
    } else if (path == "/v2/stall/manifests/latest" ||
               path == "/v2/stall/manifests/" +
                           Digest::OfBytes(manifest_).ToString()) {
      body = &manifest_;
      type = "application/vnd.oci.image.manifest.v1+json";
    } else if (path == "/v2/stall/blobs/" + config_digest_) {
      body = &config_;
    } else if (path == "/v2/stall/blobs/" + layer_digest_) {
      body = &layer_;
    }
    if (body == nullptr) {
      SendAll(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                  "Connection: close\r\n\r\n");
      return;
    }
    // Range is ignored: a whole 200 answer is what the client must handle.
    std::string headers = absl::StrCat(
        "HTTP/1.1 200 OK\r\nContent-Type: ", type,
        "\r\nContent-Length: ", body->size(),
        "\r\nDocker-Content-Digest: ", Digest::OfBytes(*body).ToString(),
        "\r\nConnection: close\r\n\r\n");
    if (!SendAll(fd, headers) || head) return;
    if (body == &layer_) {
      std::unique_lock<std::mutex> lock(mu_);
      if (stalling_) {
        ++stalled_requests_;
        lock.unlock();
        if (!SendAll(fd, absl::string_view(layer_).substr(0, layer_.size() / 4)))
          return;
        lock.lock();
        // Held until released; the client gives up first and closes.
        cv_.wait(lock, [this] { return !stalling_; });
        return;
      }
    }
    SendAll(fd, *body);
  }

  std::string config_, layer_, manifest_, config_digest_, layer_digest_;
  int listen_fd_ = -1;
  std::string host_;
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stalling_ = true;
  bool stopping_ = false;
  int stalled_requests_ = 0;
  std::vector<std::thread> connections_;
};

// 1 MiB that gzip cannot shrink, so the layer is big enough to be cut.
std::string RandomBytes(size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class PullProgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<testing::TarEntry> entries = {
        {"noise", 'f', RandomBytes(1 << 20)}};
    std::string tar = testing::MakeTar(entries);
    std::string config = absl::StrCat(
        R"({"architecture":"amd64","os":"linux","config":{},)",
        R"("rootfs":{"type":"layers","diff_ids":[")",
        Digest::OfBytes(tar).ToString(), R"("]}})");
    registry_ = std::make_unique<StallingRegistry>(
        config, testing::MakeTar(entries, testing::Compression::kGzip));
    ASSERT_FALSE(registry_->host().empty());
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(
        {absl::StrCat("[registry]\nplain_http = [\"", registry_->host(),
                      "\"]\n[images]\nimage_pull_progress_timeout = \"2s\"\n")});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
  }
  void TearDown() override {
    if (daemon_ != nullptr && HasFailure()) std::cerr << daemon_->Log();
    // The registry goes first: a held request must not hold the daemon.
    registry_.reset();
    daemon_.reset();
  }

  grpc::Status Pull(const std::string& ref) {
    grpc::ClientContext ctx;
    // Far beyond the 2 s the daemon is given: only bounds a broken daemon.
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::minutes(2));
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(ref);
    runtime::v1::PullImageResponse response;
    return daemon_->images().PullImage(&ctx, request, &response);
  }

  bool Listed(const std::string& ref) {
    grpc::ClientContext ctx;
    runtime::v1::ListImagesResponse response;
    grpc::Status s =
        daemon_->images().ListImages(&ctx, runtime::v1::ListImagesRequest(),
                                     &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const runtime::v1::Image& image : response.images()) {
      for (const std::string& tag : image.repo_tags()) {
        if (tag == ref) return true;
      }
    }
    return false;
  }

  std::unique_ptr<StallingRegistry> registry_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(PullProgressTest, AStalledLayerCancelsThePullAndALaterPullSucceeds) {
  grpc::Status s = Pull(registry_->Ref());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(s.error_message(), HasSubstr("image_pull_progress_timeout"));
  EXPECT_THAT(s.error_message(), HasSubstr(registry_->Ref()));
  EXPECT_GE(registry_->stalled_requests(), 1);
  EXPECT_FALSE(Listed(registry_->Ref()));

  // The same daemon and store: the next pull gets the whole layer.
  registry_->Release();
  s = Pull(registry_->Ref());
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(Listed(registry_->Ref()));
}

}  // namespace
}  // namespace cradle::e2e
