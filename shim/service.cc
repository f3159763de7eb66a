#include "shim/service.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <future>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "process/reaper.h"

namespace cradle::shim {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

bool ShimService::OnExit(pid_t pid, const ExitStatus& status) {
  absl::MutexLock lock(&mu_);
  if (auto it = inits_.find(pid); it != inits_.end()) {
    it->second->Exited(status.exit_code);
    inits_.erase(it);
    return true;
  }
  if (auto it = execs_.find(pid); it != execs_.end()) {
    absl::MutexLock exec_lock(&it->second->mu);
    it->second->exited = true;
    it->second->exit_code = status.exit_code;
    execs_.erase(it);
    return true;
  }
  return false;
}

absl::StatusOr<std::shared_ptr<Container>> ShimService::Find(
    const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = containers_.find(id);
  if (it == containers_.end())
    return absl::NotFoundError(absl::StrCat("container ", id, " not found"));
  return it->second;
}

void ShimService::Publish(const v1::ContainerState& state) {
  v1::ExitEvent event;
  event.set_id(state.id());
  event.set_pid(state.pid());
  event.set_exit_code(state.exit_code());
  event.set_exited_at(state.exited_at());
  event.set_oom_killed(state.oom_killed());
  absl::MutexLock lock(&events_mu_);
  for (auto& [n, queue] : subscribers_) queue.push_back(event);
}

grpc::Status ShimService::Info(grpc::ServerContext*, const v1::Empty*,
                               v1::ShimInfo* info) {
  absl::MutexLock lock(&mu_);
  info->set_pid(getpid());
  info->set_containers(containers_.size());
  return grpc::Status::OK;
}

grpc::Status ShimService::Create(grpc::ServerContext*,
                                 const v1::CreateRequest* request,
                                 v1::CreateResponse* response) {
  const std::string& id = request->id();
  if (id.empty() || id.find('/') != std::string::npos ||
      request->bundle().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "create needs a plain container id and a bundle");
  }
  auto container = std::make_shared<Container>(
      *request, absl::StrCat(state_dir_, "/", id, ".json"));
  {
    absl::MutexLock lock(&mu_);
    if (!containers_.emplace(id, container).second) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                          absl::StrCat("container ", id, " already exists"));
    }
  }
  auto fail = [&](const absl::Status& s) {
    absl::MutexLock lock(&mu_);
    containers_.erase(id);
    LOG(WARNING) << "container=" << id << " create failed: " << s;
    return ToGrpc(s);
  };
  absl::StatusOr<std::unique_ptr<CriLogWriter>> log =
      CriLogWriter::Open(request->log_path());
  if (!log.ok()) return fail(log.status());

  auto io = std::make_unique<ProcessIo>();
  RuncCreateOptions options;
  options.bundle = request->bundle();
  options.pid_file = absl::StrCat(state_dir_, "/", id, ".pid");
  std::unique_ptr<ConsoleSocket> console;
  std::future<absl::StatusOr<int>> master;
  if (request->tty()) {
    absl::StatusOr<std::unique_ptr<ConsoleSocket>> socket =
        ConsoleSocket::Listen();
    if (!socket.ok()) return fail(socket.status());
    console = std::move(*socket);
    options.console_socket = console->path();
    master = std::async(std::launch::async,
                        [&console] { return console->ReceiveMaster(); });
  } else if (absl::Status s =
                 MakePipes(request->stdin(), io.get(), &options.stdio);
             !s.ok()) {
    return fail(s);
  }
  absl::Status created = runc_->Create(id, options);
  for (int fd : {options.stdio.in, options.stdio.out, options.stdio.err}) {
    if (fd >= 0) close(fd);
  }
  if (console != nullptr) {
    if (!created.ok()) console->Abandon();
    absl::StatusOr<int> fd = master.get();
    if (created.ok() && !fd.ok()) created = fd.status();
    if (fd.ok()) io->master = *fd;
  }
  if (!created.ok()) {
    (void)runc_->Delete(id, /*force=*/true);
    return fail(created);
  }
  pid_t pid = atoi(ReadFile(options.pid_file).c_str());
  unlink(options.pid_file.c_str());
  if (pid <= 0) return fail(absl::InternalError("runc wrote no pid"));
  container->set_on_recorded(
      [this](const v1::ContainerState& s) { Publish(s); });
  container->Created(pid, std::move(io), std::move(*log));
  {
    absl::MutexLock lock(&mu_);
    inits_[pid] = container;
  }
  // The init may have died before it was registered above.
  ExitStatus early;
  if (Reaper::Get()->TakeExited(pid, &early)) {
    absl::MutexLock lock(&mu_);
    inits_.erase(pid);
    container->Exited(early.exit_code);
  }
  LOG(INFO) << "container=" << id << " created, pid " << pid;
  response->set_pid(pid);
  return grpc::Status::OK;
}

grpc::Status ShimService::Start(grpc::ServerContext*,
                                const v1::ContainerRef* request,
                                v1::ContainerState* state) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  v1::ContainerState now = (*c)->State();
  if (now.status() != v1::CREATED) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("container ", request->id(), " is ",
                     v1::Status_Name(now.status()), ", not CREATED"));
  }
  if (absl::Status s = runc_->Start(request->id()); !s.ok()) return ToGrpc(s);
  (*c)->Started();
  *state = (*c)->State();
  return grpc::Status::OK;
}

grpc::Status ShimService::Kill(grpc::ServerContext*,
                               const v1::KillRequest* request, v1::Empty*) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  if ((*c)->exited()) return grpc::Status::OK;
  absl::Status s =
      runc_->Kill(request->id(), request->signal(), request->all());
  // Exiting while we asked is not an error: the caller wanted it gone.
  if (!s.ok() && (*c)->exited()) return grpc::Status::OK;
  return ToGrpc(s);
}

grpc::Status ShimService::Delete(grpc::ServerContext*,
                                 const v1::ContainerRef* request,
                                 v1::ContainerState* state) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  v1::ContainerState now = (*c)->State();
  if (now.status() == v1::RUNNING || now.status() == v1::PAUSED) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("container ", request->id(),
                                     " is running; stop it first"));
  }
  absl::Status s = runc_->Delete(request->id(), /*force=*/true);
  if (!s.ok() && !absl::IsNotFound(s)) return ToGrpc(s);
  // A created-but-never-started init was just killed by runc; a stopped
  // one is being recorded: either way wait for the record.
  *state = (*c)->Wait();
  absl::MutexLock lock(&mu_);
  containers_.erase(request->id());
  LOG(INFO) << "container=" << request->id() << " deleted";
  return grpc::Status::OK;
}

grpc::Status ShimService::State(grpc::ServerContext*,
                                const v1::ContainerRef* request,
                                v1::ContainerState* state) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  *state = (*c)->State();
  return grpc::Status::OK;
}

grpc::Status ShimService::List(grpc::ServerContext*, const v1::Empty*,
                               v1::ListResponse* response) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, c] : containers_) *response->add_containers() = c->State();
  return grpc::Status::OK;
}

grpc::Status ShimService::Wait(grpc::ServerContext*,
                               const v1::ContainerRef* request,
                               v1::ContainerState* state) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  *state = (*c)->Wait();
  return grpc::Status::OK;
}

grpc::Status ShimService::Resize(grpc::ServerContext*,
                                 const v1::ResizeRequest* request, v1::Empty*) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  (*c)->Resize(request->width(), request->height());
  return grpc::Status::OK;
}

grpc::Status ShimService::CloseStdin(grpc::ServerContext*,
                                     const v1::ContainerRef* request,
                                     v1::Empty*) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  (*c)->CloseStdin();
  return grpc::Status::OK;
}

grpc::Status ShimService::ReopenLog(grpc::ServerContext*,
                                    const v1::ContainerRef* request,
                                    v1::Empty*) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  return ToGrpc((*c)->ReopenLog());
}

grpc::Status ShimService::Update(grpc::ServerContext*,
                                 const v1::UpdateRequest* request, v1::Empty*) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  return ToGrpc(runc_->Update(request->id(), request->resources_json()));
}

grpc::Status ShimService::Pause(grpc::ServerContext*,
                                const v1::ContainerRef* request, v1::Empty*) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  return ToGrpc(runc_->Pause(request->id()));
}

grpc::Status ShimService::Resume(grpc::ServerContext*,
                                 const v1::ContainerRef* request, v1::Empty*) {
  absl::StatusOr<std::shared_ptr<Container>> c = Find(request->id());
  if (!c.ok()) return ToGrpc(c.status());
  return ToGrpc(runc_->Resume(request->id()));
}

grpc::Status ShimService::Events(grpc::ServerContext* context, const v1::Empty*,
                                 grpc::ServerWriter<v1::ExitEvent>* writer) {
  int me;
  {
    absl::MutexLock lock(&events_mu_);
    me = next_subscriber_++;
    subscribers_[me];
  }
  while (!context->IsCancelled() && !shutdown_.HasBeenNotified()) {
    std::deque<v1::ExitEvent> batch;
    {
      absl::MutexLock lock(&events_mu_);
      events_mu_.AwaitWithTimeout(
          absl::Condition(
              +[](std::deque<v1::ExitEvent>* q) { return !q->empty(); },
              &subscribers_[me]),
          absl::Milliseconds(500));
      batch.swap(subscribers_[me]);
    }
    bool ok = true;
    for (const v1::ExitEvent& e : batch) ok = ok && writer->Write(e);
    if (!ok) break;
  }
  absl::MutexLock lock(&events_mu_);
  subscribers_.erase(me);
  return grpc::Status::OK;
}

grpc::Status ShimService::Shutdown(grpc::ServerContext*, const v1::Empty*,
                                   v1::Empty*) {
  absl::MutexLock lock(&mu_);
  if (!containers_.empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("the shim still runs ", containers_.size(),
                                     " container(s); delete them first"));
  }
  if (!shutdown_.HasBeenNotified()) shutdown_.Notify();
  return grpc::Status::OK;
}

}  // namespace cradle::shim
