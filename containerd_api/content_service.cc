#include "containerd_api/content_service.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "containerd_api/api_context.h"
#include "containerd_api/event_exchange.h"
#include "containerd_api/proto/events/content.pb.h"
#include "containerd_api/proto/services/content/v1/content.grpc.pb.h"
#include "glog/logging.h"
#include "metadata/content_store.h"
#include "snapshots/apply/apply.h"

namespace cradle::containerd_api {
namespace {

namespace api = ::containerd::services::content::v1;

// containerd's own read chunk: large enough to keep a pull's export fast,
// small enough to stay far below gRPC's message limit.
constexpr int64_t kReadChunk = 1 << 20;
// Info messages per List response, as containerd batches them.
constexpr int kListBatch = 100;

absl::StatusOr<Digest> ParseDigest(const std::string& text) {
  if (text.empty()) return absl::InvalidArgumentError("a digest is required");
  return Digest::Parse(text);
}

void ToProtoInfo(const ContentInfo& info, api::Info* out) {
  out->set_digest(info.digest.ToString());
  out->set_size(info.size);
  *out->mutable_created_at() = ToProto(info.created_at);
  *out->mutable_updated_at() = ToProto(info.updated_at);
  for (const auto& [k, v] : info.labels) (*out->mutable_labels())[k] = v;
}

void ToProtoStatus(const IngestStatus& s, api::Status* out) {
  out->set_ref(s.ref);
  out->set_offset(s.offset);
  out->set_total(s.total < 0 ? 0 : s.total);
  out->set_expected(s.expected.ToString());
  *out->mutable_started_at() = ToProto(s.started_at);
  *out->mutable_updated_at() = ToProto(s.updated_at);
}

// Bytes of a Write stream whose digest the client has not said (ctr
// import learns it only as it reads): held in an unlinked file until the
// COMMIT names or the bytes give the digest, then copied into a real
// ingest. Not resumable across streams. Its size is bounded only by the
// stream, so it stops short of leaving the disk below `min_free` bytes
// free (the unpack budget's reserve: cradled's root and its snapshots
// share a disk as a rule).
class Spool {
 public:
  explicit Spool(int64_t min_free) : min_free_(min_free) {}
  ~Spool() {
    if (fd_ >= 0) close(fd_);
  }
  absl::Status Init(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    std::string path = dir + "/spool-XXXXXX";
    fd_ = mkstemp(path.data());
    if (fd_ < 0) {
      return absl::InternalError(
          absl::StrCat("create spool file in ", dir, ": ", strerror(errno)));
    }
    unlink(path.c_str());
    return absl::OkStatus();
  }
  int64_t size() const { return size_; }
  Digest digest() const { return hasher_->Current(); }
  void Reset() {
    if (ftruncate(fd_, 0) != 0) LOG(WARNING) << "spool truncate failed";
    size_ = 0;
    hasher_ = std::make_unique<Sha256Hasher>();
  }
  absl::Status Append(absl::string_view data) {
    struct statvfs st;
    if (fstatvfs(fd_, &st) == 0) {
      int64_t free_bytes =
          static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
      if (free_bytes - static_cast<int64_t>(data.size()) < min_free_) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "content write: spooling ", size_ + data.size(),
            " bytes of a blob sent without its digest would leave less than ",
            min_free_, " bytes free on cradled's root disk (", free_bytes,
            " free); free space there, or send the expected "
            "digest first so the bytes go straight to the content store"));
      }
    }
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = pwrite(fd_, data.data() + done, data.size() - done,
                         size_ + static_cast<int64_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return absl::InternalError(
            absl::StrCat("write spool file: ", strerror(errno)));
      }
      done += static_cast<size_t>(n);
    }
    hasher_->Update(data);
    size_ += static_cast<int64_t>(data.size());
    return absl::OkStatus();
  }
  // Copies everything into `w`.
  absl::Status CopyTo(BlobWriter& w) {
    std::string buf(kReadChunk, '\0');
    for (int64_t off = 0; off < size_;) {
      ssize_t n = pread(fd_, buf.data(), buf.size(), off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return absl::InternalError(
            absl::StrCat("read spool file: ", strerror(errno)));
      }
      if (absl::Status s = w.Write(absl::string_view(buf.data(), n)); !s.ok())
        return s;
      off += n;
    }
    return absl::OkStatus();
  }

 private:
  const int64_t min_free_;
  int fd_ = -1;
  int64_t size_ = 0;
  std::unique_ptr<Sha256Hasher> hasher_ = std::make_unique<Sha256Hasher>();
};

// One Write stream: the ingest of one ref, opened once its expected digest
// is known (cradle's store checks the digest while it writes, so it needs it
// before the first byte) and held, locked, until the stream ends. Without
// a digest the bytes wait in a Spool.
class WriteSession {
 public:
  WriteSession(ContentStore* view, std::string ref, std::string spool_dir,
               int64_t spool_min_free)
      : view_(view),
        ref_(std::move(ref)),
        spool_dir_(std::move(spool_dir)),
        spool_min_free_(spool_min_free) {}

  // Handles one request; the reply goes to `msg`, which persists across the
  // stream as containerd's does (a WRITE reply repeats the last STAT's
  // times).
  absl::Status Handle(const api::WriteContentRequest& req,
                      api::WriteContentResponse* msg) {
    msg->set_action(req.action());
    if (!req.expected().empty()) {
      absl::StatusOr<Digest> d = Digest::Parse(req.expected());
      if (!d.ok()) return d.status();
      expected_ = *d;
      // Already committed in this namespace: the client has nothing to
      // send, and containerd's clients read AlreadyExists as success.
      if (view_->Info(*d).ok()) {
        writer_.reset();
        return absl::AlreadyExistsError(
            absl::StrCat("content ", d->ToString(), " exists"));
      }
    }
    if (req.total() > 0) total_ = req.total();
    if (!spool_) {
      if (absl::Status s = Open(); !s.ok()) return s;
    }

    if (req.action() == api::STAT) {
      absl::StatusOr<IngestStatus> st = view_->Status(ref_);
      msg->set_offset(Offset());
      msg->set_digest(writer_  ? writer_->CurrentDigest().ToString()
                      : spool_ ? spool_->digest().ToString()
                               : "");
      msg->set_total(total_ > 0 ? total_ : 0);
      if (st.ok()) {
        *msg->mutable_started_at() = ToProto(st->started_at);
        *msg->mutable_updated_at() = ToProto(st->updated_at);
      }
      return absl::OkStatus();
    }
    if (req.action() != api::WRITE && req.action() != api::COMMIT) {
      return absl::InvalidArgumentError(
          absl::StrCat("write action ", req.action(), " is unknown"));
    }
    if (!writer_ && !spool_) {
      auto spool = std::make_unique<Spool>(spool_min_free_);
      if (absl::Status s = spool->Init(spool_dir_); !s.ok()) return s;
      spool_ = std::move(spool);
    }
    // An offset of 0 on an ingest holding bytes restarts it (the client
    // truncated); any other offset must be where the ingest stands.
    if (req.offset() > 0 && req.offset() != Offset()) {
      return absl::OutOfRangeError(
          absl::StrCat("ingest \"", ref_, "\": write @", req.offset(),
                       " must occur at current offset ", Offset()));
    }
    if (req.offset() == 0 && Offset() > 0) {
      if (absl::Status s = Restart(); !s.ok()) return s;
    }
    if (!req.data().empty()) {
      absl::Status s =
          writer_ ? writer_->Write(req.data()) : spool_->Append(req.data());
      if (!s.ok()) return s;
    }
    msg->set_offset(Offset());
    Digest current = writer_ ? writer_->CurrentDigest() : spool_->digest();
    if (req.action() == api::COMMIT) {
      if (absl::Status s = Commit(req, current); !s.ok()) return s;
    }
    msg->set_digest(current.ToString());
    return absl::OkStatus();
  }

 private:
  int64_t Offset() const {
    if (writer_) return writer_->offset();
    if (spool_) return spool_->size();
    absl::StatusOr<IngestStatus> st = view_->Status(ref_);
    return st.ok() ? st->offset : 0;
  }

  // Opens the ingest unless open. Without an expected digest (none sent
  // yet) an existing ingest of the ref lends its own; failing that, writes
  // go to a spool.
  absl::Status Open() {
    if (writer_) return absl::OkStatus();
    if (!expected_.has_value()) {
      absl::StatusOr<IngestStatus> st = view_->Status(ref_);
      if (!st.ok()) return absl::OkStatus();
      expected_ = st->expected;
      if (total_ <= 0 && st->total > 0) total_ = st->total;
    }
    Descriptor desc;
    desc.digest = *expected_;
    desc.size = total_ > 0 ? total_ : -1;
    absl::StatusOr<std::unique_ptr<BlobWriter>> w = view_->Writer(ref_, desc);
    if (!w.ok()) return w.status();
    writer_ = *std::move(w);
    return absl::OkStatus();
  }

  absl::Status Commit(const api::WriteContentRequest& req,
                      const Digest& current) {
    if (absl::Status s = CheckLabels("content", req.labels()); !s.ok())
      return s;
    Labels labels(req.labels().begin(), req.labels().end());
    if (spool_) {
      // The digest is now known: what the client expects, else the bytes'.
      if (!expected_.has_value()) expected_ = current;
      absl::Status opened = Open();
      if (!opened.ok()) return opened;  // AlreadyExists: nothing to do
      if (writer_->offset() > 0) {
        if (absl::Status s = Restart(); !s.ok()) return s;
      }
      if (absl::Status s = spool_->CopyTo(*writer_); !s.ok()) return s;
      spool_.reset();
    }
    absl::Status s =
        writer_->Commit(total_ > 0 ? total_ : -1, *expected_, labels);
    writer_.reset();
    return s;
  }

  absl::Status Restart() {
    if (spool_ && !writer_) {
      spool_->Reset();
      return absl::OkStatus();
    }
    writer_.reset();
    if (absl::Status s = view_->Abort(ref_); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("restart ingest \"", ref_,
                                                 "\": ", s.message()));
    }
    return Open();
  }

  ContentStore* const view_;
  const std::string ref_;
  const std::string spool_dir_;
  const int64_t spool_min_free_;
  std::optional<Digest> expected_;
  int64_t total_ = 0;
  std::unique_ptr<BlobWriter> writer_;
  std::unique_ptr<Spool> spool_;
};

class ContentService final : public api::Content::Service {
 public:
  explicit ContentService(const ContainerdApiDeps& deps)
      : spool_dir_(deps.root + "/containerd-api/spool"),
        spool_min_free_(deps.unpack_limits != nullptr
                            ? deps.unpack_limits->min_free_bytes
                            : ApplyLimits().min_free_bytes),
        backend_(deps.content),
        metadata_(deps.metadata),
        events_(deps.events) {}

  grpc::Status Info(grpc::ServerContext* ctx, const api::InfoRequest* req,
                    api::InfoResponse* resp) override {
    absl::StatusOr<std::unique_ptr<ContentStore>> view = View(ctx);
    if (!view.ok()) return ToGrpc(view.status());
    absl::StatusOr<Digest> d = ParseDigest(req->digest());
    if (!d.ok()) return ToGrpc(d.status());
    absl::StatusOr<ContentInfo> info = (*view)->Info(*d);
    if (!info.ok()) return ToGrpc(NotFoundOr(info.status(), *d));
    ToProtoInfo(*info, resp->mutable_info());
    return grpc::Status::OK;
  }

  grpc::Status Update(grpc::ServerContext* ctx, const api::UpdateRequest* req,
                      api::UpdateResponse* resp) override {
    absl::StatusOr<std::unique_ptr<ContentStore>> view = View(ctx);
    if (!view.ok()) return ToGrpc(view.status());
    absl::StatusOr<Digest> d = ParseDigest(req->info().digest());
    if (!d.ok()) return ToGrpc(d.status());
    absl::StatusOr<ContentInfo> current = (*view)->Info(*d);
    if (!current.ok()) return ToGrpc(NotFoundOr(current.status(), *d));
    const auto& wanted = req->info().labels();
    if (absl::Status s = CheckLabels("content", wanted); !s.ok())
      return ToGrpc(s);
    // The store merges (an empty value removes a key): turn containerd's
    // field paths into that form.
    Labels changes;
    auto replace_all = [&] {
      for (const auto& [k, v] : current->labels) changes[k] = "";
      for (const auto& [k, v] : wanted) changes[k] = v;
    };
    if (req->update_mask().paths().empty()) replace_all();
    for (const std::string& path : req->update_mask().paths()) {
      if (path == "labels") {
        replace_all();
      } else if (absl::StartsWith(path, "labels.")) {
        std::string key = path.substr(strlen("labels."));
        auto it = wanted.find(key);
        changes[key] = it == wanted.end() ? "" : it->second;
      } else {
        return ToGrpc(absl::InvalidArgumentError(
            absl::StrCat("cannot update field \"", path, "\" of content ",
                         d->ToString(), ": only labels can change")));
      }
    }
    absl::StatusOr<ContentInfo> updated = (*view)->Update(*d, changes);
    if (!updated.ok()) return ToGrpc(updated.status());
    ToProtoInfo(*updated, resp->mutable_info());
    return grpc::Status::OK;
  }

  grpc::Status List(
      grpc::ServerContext* ctx, const api::ListContentRequest* req,
      grpc::ServerWriter<api::ListContentResponse>* writer) override {
    absl::StatusOr<std::unique_ptr<ContentStore>> view = View(ctx);
    if (!view.ok()) return ToGrpc(view.status());
    absl::StatusOr<Filter> filter =
        Filter::Parse({req->filters().begin(), req->filters().end()});
    if (!filter.ok()) return ToGrpc(filter.status());
    api::ListContentResponse batch;
    bool sent_ok = true;
    absl::Status walked = (*view)->Walk([&](const ContentInfo& info) {
      bool match =
          filter->Matches(FieldsAndLabels({{"digest", info.digest.ToString()},
                                           {"size", absl::StrCat(info.size)}},
                                          info.labels));
      if (!match) return absl::OkStatus();
      ToProtoInfo(info, batch.add_info());
      if (batch.info_size() >= kListBatch) {
        sent_ok = writer->Write(batch);
        batch.Clear();
        if (!sent_ok) return absl::CancelledError("client went away");
      }
      return absl::OkStatus();
    });
    if (!sent_ok) return grpc::Status::CANCELLED;
    if (!walked.ok()) return ToGrpc(walked);
    if (batch.info_size() > 0) writer->Write(batch);
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* ctx,
                      const api::DeleteContentRequest* req,
                      google::protobuf::Empty*) override {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ToGrpc(ns.status());
    absl::StatusOr<std::unique_ptr<ContentStore>> view = View(ctx);
    if (!view.ok()) return ToGrpc(view.status());
    absl::StatusOr<Digest> d = ParseDigest(req->digest());
    if (!d.ok()) return ToGrpc(d.status());
    // The blob itself goes at the next collection if nothing else uses it.
    if (absl::Status s = (*view)->Delete(*d); !s.ok()) return ToGrpc(s);
    if (events_ != nullptr) {
      ::containerd::events::ContentDelete event;
      event.set_digest(d->ToString());
      events_->Publish(*ns, "/content/delete", event);
    }
    return grpc::Status::OK;
  }

  grpc::Status Read(
      grpc::ServerContext* ctx, const api::ReadContentRequest* req,
      grpc::ServerWriter<api::ReadContentResponse>* writer) override {
    absl::StatusOr<std::unique_ptr<ContentStore>> view = View(ctx);
    if (!view.ok()) return ToGrpc(view.status());
    absl::StatusOr<Digest> d = ParseDigest(req->digest());
    if (!d.ok()) return ToGrpc(d.status());
    absl::StatusOr<std::unique_ptr<BlobReader>> reader = (*view)->Open(*d);
    if (!reader.ok()) return ToGrpc(NotFoundOr(reader.status(), *d));
    int64_t size = (*reader)->size();
    int64_t offset = req->offset();
    if (offset < 0 || offset > size) {
      return ToGrpc(absl::OutOfRangeError(
          absl::StrCat("read ", d->ToString(), " at offset ", offset,
                       ": the blob has ", size, " bytes")));
    }
    // A size of 0 (or one running past the end) reads to the end.
    int64_t end = size;
    if (req->size() > 0 && req->size() < size - offset)
      end = offset + req->size();
    api::ReadContentResponse chunk;
    while (offset < end) {
      if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
      absl::StatusOr<std::string> data = (*reader)->ReadAt(
          offset, static_cast<size_t>(std::min(kReadChunk, end - offset)));
      if (!data.ok()) return ToGrpc(data.status());
      if (data->empty()) {
        return ToGrpc(absl::DataLossError(absl::StrCat(
            "read ", d->ToString(), ": blob ended at ", offset, " of ", size)));
      }
      chunk.set_offset(offset);
      offset += static_cast<int64_t>(data->size());
      *chunk.mutable_data() = *std::move(data);
      if (!writer->Write(chunk)) return grpc::Status::CANCELLED;
    }
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext* ctx, const api::StatusRequest* req,
                      api::StatusResponse* resp) override {
    absl::StatusOr<std::unique_ptr<ContentStore>> view = View(ctx);
    if (!view.ok()) return ToGrpc(view.status());
    if (req->ref().empty())
      return ToGrpc(absl::InvalidArgumentError("an ingest ref is required"));
    absl::StatusOr<IngestStatus> st = (*view)->Status(req->ref());
    if (!st.ok()) return ToGrpc(st.status());
    ToProtoStatus(*st, resp->mutable_status());
    return grpc::Status::OK;
  }

  grpc::Status ListStatuses(grpc::ServerContext* ctx,
                            const api::ListStatusesRequest* req,
                            api::ListStatusesResponse* resp) override {
    absl::StatusOr<std::unique_ptr<ContentStore>> view = View(ctx);
    if (!view.ok()) return ToGrpc(view.status());
    absl::StatusOr<Filter> filter =
        Filter::Parse({req->filters().begin(), req->filters().end()});
    if (!filter.ok()) return ToGrpc(filter.status());
    absl::StatusOr<std::vector<IngestStatus>> all = (*view)->ListIngests();
    if (!all.ok()) return ToGrpc(all.status());
    for (const IngestStatus& st : *all) {
      if (!filter->Matches(FieldsAndLabels(
              {{"ref", st.ref}, {"expected", st.expected.ToString()}}, {}))) {
        continue;
      }
      ToProtoStatus(st, resp->add_statuses());
    }
    return grpc::Status::OK;
  }

  grpc::Status Write(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<api::WriteContentResponse,
                               api::WriteContentRequest>* stream) override {
    absl::StatusOr<std::unique_ptr<ContentStore>> view = View(ctx);
    if (!view.ok()) return ToGrpc(view.status());
    api::WriteContentRequest req;
    if (!stream->Read(&req)) return grpc::Status::OK;  // client hung up
    if (req.ref().empty()) {
      return ToGrpc(absl::InvalidArgumentError(
          "the first write request must name a ref"));
    }
    // A stream is one ingest: later requests' refs are ignored, as
    // containerd does.
    const std::string ref = req.ref();
    WriteSession session(view->get(), ref, spool_dir_, spool_min_free_);
    api::WriteContentResponse msg;
    while (true) {
      absl::Status s = session.Handle(req, &msg);
      if (!s.ok()) {
        if (s.code() != absl::StatusCode::kAlreadyExists) {
          LOG(WARNING) << "content write ref=" << ref << ": " << s;
        }
        return ToGrpc(s);
      }
      if (!stream->Write(msg)) return grpc::Status::CANCELLED;
      if (!stream->Read(&req)) return grpc::Status::OK;  // done
    }
  }

  grpc::Status Abort(grpc::ServerContext* ctx, const api::AbortRequest* req,
                     google::protobuf::Empty*) override {
    absl::StatusOr<std::unique_ptr<ContentStore>> view = View(ctx);
    if (!view.ok()) return ToGrpc(view.status());
    if (req->ref().empty())
      return ToGrpc(absl::InvalidArgumentError("an ingest ref is required"));
    // containerd answers NotFound for an ingest that is not there.
    if (absl::Status s = (*view)->Status(req->ref()).status(); !s.ok())
      return ToGrpc(s);
    return ToGrpc((*view)->Abort(req->ref()));
  }

 private:
  absl::StatusOr<std::unique_ptr<ContentStore>> View(
      const grpc::ServerContext* ctx) {
    absl::StatusOr<std::string> ns = RequestNamespace(ctx);
    if (!ns.ok()) return ns.status();
    return NamespacedContentStore::Create(backend_, metadata_, *ns,
                                          RequestLease(ctx));
  }

  // The view answers NotFound for a blob the namespace does not use; say
  // which blob.
  static absl::Status NotFoundOr(const absl::Status& s, const Digest& d) {
    if (s.code() != absl::StatusCode::kNotFound) return s;
    return absl::NotFoundError(
        absl::StrCat("content digest ", d.ToString(), ": not found"));
  }

  const std::string spool_dir_;
  const int64_t spool_min_free_;
  ContentStore* const backend_;
  MetadataStore* const metadata_;
  EventExchange* const events_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewContentService(
    const ContainerdApiDeps& deps) {
  return std::make_unique<ContentService>(deps);
}

}  // namespace cradle::containerd_api
