#include "runc_driver/runc.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "lite/files.h"
#include "nlohmann/json.hpp"
#include "process/spawn.h"

namespace cradle {
namespace {

std::string_view StripAsciiWhitespace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.append(sep);
    out.append(parts[i]);
  }
  return out;
}

// "2m", "1m30s", "1.5s", "500ms": how absl::FormatDuration said it.
std::string FormatTimeout(std::chrono::milliseconds timeout) {
  int64_t ms = timeout.count();
  if (ms == 0) return "0";
  std::string out = ms < 0 ? "-" : "";
  uint64_t left = ms < 0 ? -static_cast<uint64_t>(ms) : ms;
  if (left < 1000) return lite::StrCat(out, left, "ms");
  uint64_t hours = left / 3600000, minutes = left / 60000 % 60;
  uint64_t seconds = left / 1000 % 60, millis = left % 1000;
  if (hours > 0) out += lite::StrCat(hours, "h");
  if (minutes > 0) out += lite::StrCat(minutes, "m");
  if (seconds > 0 || millis > 0) {
    out += std::to_string(seconds);
    if (millis > 0) {
      char frac[5];
      snprintf(frac, sizeof(frac), ".%03u", static_cast<unsigned>(millis));
      std::string_view f = frac;
      out.append(f.substr(0, f.find_last_not_of('0') + 1));
    }
    out += "s";
  }
  return out;
}

// A log file name no other call in this or another process uses at the
// same time: the pid tells processes apart, the counter calls.
std::string UniqueLogFile(const std::string& dir, std::string_view what) {
  static std::atomic<uint64_t> counter{0};
  return lite::StrCat(dir, "/", what, "-", getpid(), "-", counter++, ".json");
}

// runc says "does not exist" for containers it does not know.
bool IsNotFound(std::string_view message) {
  return message.find("does not exist") != std::string_view::npos ||
         message.find("container not found") != std::string_view::npos;
}

}  // namespace

std::string BundleCgroupsPath(const std::string& bundle) {
  nlohmann::json spec = nlohmann::json::parse(
      lite::ReadFileOrEmpty(bundle + "/config.json"), nullptr,
      /*allow_exceptions=*/false);
  if (!spec.is_object()) return "";
  return spec.value("/linux/cgroupsPath"_json_pointer, "");
}

bool BundleHasOwnPidNamespace(const std::string& bundle) {
  nlohmann::json spec = nlohmann::json::parse(
      lite::ReadFileOrEmpty(bundle + "/config.json"), nullptr,
      /*allow_exceptions=*/false);
  if (!spec.is_object()) return true;  // unknown: the kernel's rule holds
  const nlohmann::json* namespaces = nullptr;
  if (auto linux = spec.find("linux");
      linux != spec.end() && linux->is_object()) {
    if (auto ns = linux->find("namespaces");
        ns != linux->end() && ns->is_array()) {
      namespaces = &*ns;
    }
  }
  if (namespaces == nullptr) return false;  // the host's
  for (const nlohmann::json& ns : *namespaces) {
    if (!ns.is_object() || ns.value("type", "") != "pid") continue;
    return ns.value("path", "").empty();  // a path joins another's
  }
  return false;
}

std::string RuncErrorFromLog(std::string_view log) {
  std::vector<std::string> errors;
  while (!log.empty()) {
    size_t newline = log.find('\n');
    std::string_view line = log.substr(0, newline);
    log.remove_prefix(newline == std::string_view::npos ? log.size()
                                                        : newline + 1);
    if (line.empty()) continue;
    try {
      nlohmann::json entry = nlohmann::json::parse(line.begin(), line.end());
      std::string level = entry.value("level", "");
      if (level == "error" || level == "fatal")
        errors.push_back(entry.value("msg", ""));
    } catch (const nlohmann::json::exception&) {
      // A plain-text line (runc before it set up JSON logging): keep it.
      errors.emplace_back(StripAsciiWhitespace(line));
    }
  }
  return Join(errors, "; ");
}

lite::StatusOr<std::unique_ptr<Runc>> Runc::New(RuncOptions options) {
  lite::StatusOr<std::string> binary = lite::FindProgram(options.binary);
  // A path is taken as given by the lookup; it must still be there.
  if (binary.ok() && access(binary->c_str(), X_OK) != 0) {
    binary = lite::NotFoundError(
        lite::StrCat("\"", *binary, "\" is not an executable file"));
  }
  if (!binary.ok()) {
    return lite::FailedPreconditionError(lite::StrCat(
        "runc binary \"", options.binary, "\": ", binary.status().message()));
  }
  for (const std::string& dir : {options.root, options.log_dir}) {
    if (int err = lite::MakeDirs(dir); err != 0)
      return lite::InternalError(
          lite::StrCat("create ", dir, ": ", strerror(err)));
  }
  return std::unique_ptr<Runc>(
      new Runc(std::move(options), *std::move(binary)));
}

std::vector<std::string> Runc::GlobalArgs(const std::string& log_file) const {
  std::vector<std::string> args = {binary_, "--root", options_.root,
                                   "--log", log_file, "--log-format",
                                   "json"};
  if (options_.systemd_cgroup) args.push_back("--systemd-cgroup");
  return args;
}

lite::StatusOr<Runc::Outcome> Runc::Call(
    const std::vector<std::string>& args, const Stdio* stdio,
    std::string_view input, std::vector<int> extra_fds,
    std::optional<std::chrono::milliseconds> timeout) {
  std::chrono::milliseconds limit = timeout.value_or(options_.timeout);
  std::string log_file = UniqueLogFile(options_.log_dir, args[0]);
  SpawnOptions spawn;
  spawn.argv = GlobalArgs(log_file);
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.extra_fds = std::move(extra_fds);
  std::string what = lite::StrCat("runc ", Join(args, " "));
  Outcome outcome;
  std::string stderr_text;
  if (stdio != nullptr) {
    spawn.stdin_fd = stdio->in;
    spawn.stdout_fd = stdio->out;
    spawn.stderr_fd = stdio->err;
    lite::StatusOr<pid_t> pid = lite::Spawn(spawn);
    if (!pid.ok()) return pid.status();
    lite::StatusOr<ExitStatus> exit = lite::WaitFor(*pid);
    if (!exit.ok()) return exit.status();
    outcome.exit_code = exit->exit_code;
  } else {
    lite::StatusOr<RunResult> run = lite::RunAndCapture(spawn, input, limit);
    if (!run.ok()) return run.status();
    if (run->timed_out) {
      unlink(log_file.c_str());
      return lite::DeadlineExceededError(
          lite::StrCat(what, ": no answer after ", FormatTimeout(limit)));
    }
    outcome.exit_code = run->status.exit_code;
    outcome.out = std::move(run->out);
    stderr_text = std::move(run->err);
  }
  std::string log = lite::ReadFileOrEmpty(log_file);
  unlink(log_file.c_str());
  if (outcome.exit_code == 0) return outcome;

  std::string message = RuncErrorFromLog(log);
  if (message.empty()) message = std::string(StripAsciiWhitespace(stderr_text));
  if (message.empty()) message = lite::StrCat("exit code ", outcome.exit_code);
  std::string full = lite::StrCat(what, ": ", message);
  if (IsNotFound(message)) return lite::NotFoundError(full);
  return lite::FailedPreconditionError(full);
}

lite::StatusOr<std::string> Runc::Version() {
  lite::StatusOr<RunResult> run =
      lite::RunAndCapture(SpawnOptions{{binary_, "--version"}});
  if (!run.ok()) return run.status();
  return std::string(
      StripAsciiWhitespace(run->out.substr(0, run->out.find('\n'))));
}

lite::Status Runc::Create(std::string_view id, const RuncCreateOptions& o) {
  std::vector<std::string> args = {"create", "--bundle", o.bundle};
  if (!o.pid_file.empty()) args.insert(args.end(), {"--pid-file", o.pid_file});
  if (!o.console_socket.empty())
    args.insert(args.end(), {"--console-socket", o.console_socket});
  if (o.no_pivot) args.push_back("--no-pivot");
  args.emplace_back(id);
  return Call(args, &o.stdio).status();
}

lite::Status Runc::Start(std::string_view id) {
  return Call({"start", std::string(id)}, nullptr).status();
}

lite::StatusOr<int> Runc::Exec(std::string_view id, const RuncExecOptions& o) {
  std::vector<std::string> args = {"exec", "--process", o.process_json};
  if (o.detach) args.push_back("--detach");
  if (!o.pid_file.empty()) args.insert(args.end(), {"--pid-file", o.pid_file});
  if (!o.console_socket.empty())
    args.insert(args.end(), {"--console-socket", o.console_socket});
  args.emplace_back(id);
  if (o.detach) {
    lite::StatusOr<Outcome> outcome = Call(args, &o.stdio);
    if (!outcome.ok()) return outcome.status();
    return 0;
  }
  // Attached: a non-zero exit is the process's own, not a runc failure,
  // unless runc logged an error.
  std::string log_file = UniqueLogFile(options_.log_dir, "exec");
  SpawnOptions spawn;
  spawn.argv = GlobalArgs(log_file);
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.stdin_fd = o.stdio.in;
  spawn.stdout_fd = o.stdio.out;
  spawn.stderr_fd = o.stdio.err;
  lite::StatusOr<pid_t> pid = lite::Spawn(spawn);
  if (!pid.ok()) return pid.status();
  lite::StatusOr<ExitStatus> exit = lite::WaitFor(*pid);
  std::string runc_error = RuncErrorFromLog(lite::ReadFileOrEmpty(log_file));
  unlink(log_file.c_str());
  if (!exit.ok()) return exit.status();
  if (!runc_error.empty()) {
    std::string full = lite::StrCat("runc exec ", id, ": ", runc_error);
    return IsNotFound(runc_error) ? lite::NotFoundError(full)
                                  : lite::FailedPreconditionError(full);
  }
  return exit->exit_code;
}

lite::Status Runc::Kill(std::string_view id, int signal, bool all) {
  std::vector<std::string> args = {"kill"};
  if (all) args.push_back("--all");
  args.insert(args.end(), {std::string(id), std::to_string(signal)});
  return Call(args, nullptr).status();
}

lite::Status Runc::Delete(std::string_view id, bool force) {
  std::vector<std::string> args = {"delete"};
  if (force) args.push_back("--force");
  args.emplace_back(id);
  return Call(args, nullptr).status();
}

namespace {

RuncState StateFromJson(const nlohmann::json& j) {
  RuncState s;
  s.id = j.value("id", "");
  s.pid = j.value("pid", 0);
  s.status = j.value("status", "");
  s.bundle = j.value("bundle", "");
  s.created = j.value("created", "");
  if (j.contains("annotations") && j["annotations"].is_object()) {
    for (const auto& [k, v] : j["annotations"].items()) {
      if (v.is_string()) s.annotations[k] = v.get<std::string>();
    }
  }
  return s;
}

}  // namespace

lite::StatusOr<RuncState> Runc::State(std::string_view id) {
  lite::StatusOr<Outcome> outcome = Call({"state", std::string(id)}, nullptr);
  if (!outcome.ok()) return outcome.status();
  try {
    return StateFromJson(nlohmann::json::parse(outcome->out));
  } catch (const nlohmann::json::exception& e) {
    return lite::InternalError(
        lite::StrCat("runc state ", id, ": unreadable JSON: ", e.what()));
  }
}

lite::StatusOr<std::vector<RuncState>> Runc::List() {
  lite::StatusOr<Outcome> outcome = Call({"list", "--format", "json"}, nullptr);
  if (!outcome.ok()) return outcome.status();
  std::vector<RuncState> states;
  try {
    nlohmann::json j = nlohmann::json::parse(outcome->out);
    if (j.is_array()) {
      for (const auto& item : j) states.push_back(StateFromJson(item));
    }
  } catch (const nlohmann::json::exception& e) {
    return lite::InternalError(
        lite::StrCat("runc list: unreadable JSON: ", e.what()));
  }
  return states;
}

lite::Status Runc::Pause(std::string_view id) {
  return Call({"pause", std::string(id)}, nullptr).status();
}

lite::Status Runc::Resume(std::string_view id) {
  return Call({"resume", std::string(id)}, nullptr).status();
}

lite::Status Runc::Update(std::string_view id,
                          std::string_view resources_json) {
  return Call({"update", "--resources", "-", std::string(id)}, nullptr,
              resources_json)
      .status();
}

lite::StatusOr<std::vector<pid_t>> Runc::Ps(std::string_view id) {
  lite::StatusOr<Outcome> outcome =
      Call({"ps", "--format", "json", std::string(id)}, nullptr);
  if (!outcome.ok()) return outcome.status();
  try {
    nlohmann::json j = nlohmann::json::parse(outcome->out);
    std::vector<pid_t> pids;
    if (j.is_array()) {
      for (const auto& p : j) pids.push_back(p.get<pid_t>());
    }
    return pids;
  } catch (const nlohmann::json::exception& e) {
    return lite::InternalError(
        lite::StrCat("runc ps ", id, ": unreadable JSON: ", e.what()));
  }
}

lite::StatusOr<std::string> Runc::Stats(std::string_view id) {
  lite::StatusOr<Outcome> outcome =
      Call({"events", "--stats", std::string(id)}, nullptr);
  if (!outcome.ok()) return outcome.status();
  return std::string(StripAsciiWhitespace(outcome->out));
}

lite::Status Runc::Checkpoint(std::string_view id,
                              const RuncCheckpointOptions& o,
                              std::chrono::milliseconds timeout) {
  std::vector<std::string> args = {"checkpoint", "--image-path", o.image_path,
                                   "--work-path", o.work_path};
  if (o.leave_running) args.push_back("--leave-running");
  args.emplace_back(id);
  lite::Status s = Call(args, nullptr, "", {}, timeout).status();
  if (s.ok()) return s;
  // runc's own message names only "criu failed"; CRIU's log says why.
  std::string criu =
      CriuErrorFromLog(lite::ReadFileOrEmpty(o.work_path + "/dump.log"));
  if (criu.empty()) return s;
  return lite::Status(s.code(),
                      lite::StrCat(s.message(), " (CRIU: ", criu, ")"));
}

std::string CriuErrorFromLog(std::string_view log) {
  // CRIU marks failures "Error (file:line): what"; the last few are the
  // cause, the rest the unwinding.
  constexpr size_t kKeep = 3;
  std::vector<std::string> errors;
  while (!log.empty()) {
    size_t newline = log.find('\n');
    std::string_view line = log.substr(0, newline);
    log.remove_prefix(newline == std::string_view::npos ? log.size()
                                                        : newline + 1);
    if (line.find("Error (") == std::string_view::npos) continue;
    errors.emplace_back(StripAsciiWhitespace(line));
  }
  if (errors.size() > kKeep) errors.erase(errors.begin(), errors.end() - kKeep);
  return Join(errors, "; ");
}

}  // namespace cradle
